//! Request bodies parsed into values that are valid by construction.

use common_types::{FieldError, Role};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const MIN_PASSWORD_CHARS: usize = 10;
/// Argon2 hashes whatever it is given; a cap keeps a megabyte "password" from
/// costing more than a normal one.
const MAX_PASSWORD_CHARS: usize = 256;
const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;

/// An email address as typed, trimmed. Equality and uniqueness are
/// case-insensitive (`normalized`); the stored form keeps the user's casing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim();
        let bad = |message: &str| FieldError::new("email", message);
        if email.is_empty() {
            return Err(bad("must not be empty"));
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(bad("must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain spaces"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(bad("must look like name@example.com"));
        };
        if local.is_empty()
            || local.contains('@')
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad("must look like name@example.com"));
        }
        Ok(Self(email.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and throttling are keyed on.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password that meets the length rules. Never logged.
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                "must be at least 10 characters",
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                "must be at most 256 characters",
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new("name", "must be at most 200 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
pub struct RegisterBody {
    pub email: String,
    pub password: String,
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
}

impl std::fmt::Debug for RegisterBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterBody")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A valid registration: every field checked, all problems reported at once.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub password: Password,
    pub name: Name,
    pub role: Role,
}

impl TryFrom<RegisterBody> for NewUser {
    type Error = Vec<FieldError>;

    fn try_from(body: RegisterBody) -> Result<Self, Self::Error> {
        let email = Email::parse(&body.email);
        let password = Password::parse(body.password);
        let name = Name::parse(&body.name);
        let role = match body.role.as_deref().map(str::trim) {
            None | Some("") | Some("customer") => Ok(Role::Customer),
            Some("organizer") => Ok(Role::Organizer),
            Some("admin") => Err(FieldError::new(
                "role",
                "admin cannot be chosen at registration; an admin grants it",
            )),
            Some(other) => Err(FieldError::new(
                "role",
                format!("unknown role {other:?}: expected customer or organizer"),
            )),
        };
        match (email, password, name, role) {
            (Ok(email), Ok(password), Ok(name), Ok(role)) => Ok(NewUser {
                email,
                password,
                name,
                role,
            }),
            (email, password, name, role) => {
                Err([email.err(), password.err(), name.err(), role.err()]
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Login only checks shape: a wrong-format email simply cannot match, and
/// must answer like any other bad credentials.
pub struct Credentials {
    pub email: String,
    pub password: SecretString,
}

impl From<LoginBody> for Credentials {
    fn from(body: LoginBody) -> Self {
        Self {
            email: body.email.trim().to_lowercase(),
            password: SecretString::from(body.password),
        }
    }
}

#[derive(Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Deserialize, Default)]
pub struct LogoutBody {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RoleBody {
    pub role: String,
}

impl TryFrom<RoleBody> for Role {
    type Error = FieldError;
    fn try_from(body: RoleBody) -> Result<Self, Self::Error> {
        body.role
            .trim()
            .parse()
            .map_err(|e: common_types::role::UnknownRole| FieldError::new("role", e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_case_insensitively() {
        let email = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ada@Example.COM");
        assert_eq!(email.normalized(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "ada@localhost",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn registration_reports_every_bad_field() {
        let errors = NewUser::try_from(RegisterBody {
            email: "nope".into(),
            password: "short".into(),
            name: " ".into(),
            role: Some("admin".into()),
        })
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "name", "role"]);
    }
}
