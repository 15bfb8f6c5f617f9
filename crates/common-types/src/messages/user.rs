//! `user.events`, keyed by user id.

use crate::{MessageType, Role, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserRegistered {
        user_id: UserId,
        email: String,
        name: String,
        role: Role,
    },
}

impl MessageType for UserEvent {
    fn message_type(&self) -> &'static str {
        match self {
            UserEvent::UserRegistered { .. } => "UserRegistered",
        }
    }
}
