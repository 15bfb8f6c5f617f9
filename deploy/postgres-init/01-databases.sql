-- Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d).
-- One database per service: no service can read another's tables. The services
-- also create their database when it is missing (crates/database `prepare`), so
-- this only makes the layout explicit and lets a DBA grant per-database roles.
CREATE DATABASE evently_auth;
CREATE DATABASE evently_booking;
CREATE DATABASE evently_waitlist;
CREATE DATABASE evently_notification;
