use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do. `Admin` is never self-assigned (see the auth service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Organizer,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }

    /// Organizers and admins may create venues and events.
    pub fn can_organize(&self) -> bool {
        matches!(self, Role::Organizer | Role::Admin)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?}: expected customer, organizer or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Role::Customer),
            "organizer" => Ok(Role::Organizer),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
