//! The store's error type.

use platica_domain::validate::Invalid;

/// What can go wrong in the store. The HTTP layer maps each variant to a status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist, or exists in another tenant or outside the viewer's visibility:
    /// the caller cannot tell which.
    #[error("{message}")]
    NotFound { message: String, field: Option<&'static str> },
    /// The viewer sees the object but may not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A uniqueness rule would be broken.
    #[error("{message}")]
    Conflict { message: String, field: Option<&'static str> },
    /// A domain rule refuses the request as it stands (e.g. free text outside WhatsApp's 24-hour
    /// window); `code` names the rule for clients, `params` the values it speaks of (for clients
    /// to word in their reader's language).
    #[error("{message}")]
    Refused { code: &'static str, message: String, field: Option<&'static str>, params: Vec<(&'static str, String)> },
    /// The input is well-formed but not acceptable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Misconfiguration found at start-up (bad URL, wrong server settings).
    #[error("{0}")]
    Config(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn not_found(what: &'static str) -> Self {
        StoreError::NotFound { message: format!("{what} not found"), field: None }
    }

    /// A referenced object (named by a request field) does not exist or is not visible.
    pub fn missing_ref(what: &'static str, field: &'static str) -> Self {
        StoreError::NotFound { message: format!("{what} not found"), field: Some(field) }
    }

    /// Whether the database could not be reached or used at all (no connection, connection lost,
    /// the server shutting down or starting): the request may succeed later, unchanged.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
            // cannot connect now.
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            let (message, field) = match db.constraint() {
                Some("prospects_phone_unique") => ("a prospect with this phone number already exists", Some("phone")),
                Some("users_email_unique") => ("a user with this e-mail address already exists", Some("email")),
                Some("teams_name_unique") => ("a team with this name already exists", Some("name")),
                Some("prospect_fields_key_unique") => ("a contact field with this key already exists", Some("key")),
                Some("tenants_slug") => ("a tenant with this slug already exists", Some("slug")),
                Some("labels_name") => ("a label with this name already exists", Some("name")),
                Some("conversations_one_per_channel") => {
                    ("the prospect already has a conversation on this channel", Some("channel"))
                }
                _ => ("the change conflicts with existing data", None),
            };
            return StoreError::Conflict { message: message.to_owned(), field };
        }
        if let sqlx::Error::Database(db) = &e
            && db.is_foreign_key_violation()
        {
            let message = match db.constraint() {
                Some(c) if c.starts_with("prospects") && c.contains("team") => {
                    "the team still has prospects: move them first"
                }
                Some(c) if c.contains("executive") || c.contains("user") => {
                    "the user is still referenced (prospects, messages): deactivate the user instead"
                }
                _ => "the change refers to, or is referred to by, other data",
            };
            return StoreError::Conflict { message: message.to_owned(), field: None };
        }
        StoreError::Database(e)
    }
}
