//! Message payloads, one module per topic family. Each enum is tagged by
//! `type` inside the payload as well, so a consumer can deserialize the
//! envelope straight into the enum.

pub mod booking;
pub mod lifecycle;
pub mod user;
pub mod waitlist;
