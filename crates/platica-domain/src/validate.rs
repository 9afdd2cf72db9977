//! Checks on user input. Each returns the normalised value or an [`Invalid`] naming the field.

/// A rejected input value: which field, and what is wrong with it, as a sentence for the API's
/// readers (`message`) and as a code with parameters (`reason`, `params`) that clients render in
/// their reader's language.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
    /// What is wrong, as a stable code (see [`Reason`]).
    pub reason: Reason,
    /// The values the reason speaks of (e.g. `max` for `too_long`), as text.
    pub params: Vec<(&'static str, String)>,
}

/// Why an input value is refused, as the API names it (`error.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Refused for a reason only the message says.
    Invalid,
    /// Empty where a value is needed.
    Required,
    /// Longer than `max` characters.
    TooLong,
    /// Shorter than `min` characters.
    TooShort,
    /// Contains a control character.
    ControlCharacter,
    /// Not an e-mail address.
    Email,
    /// Not a phone number in international form.
    Phone,
    /// Not a slug (lower-case letters, digits, dashes).
    Slug,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::Invalid => "invalid",
            Reason::Required => "required",
            Reason::TooLong => "too_long",
            Reason::TooShort => "too_short",
            Reason::ControlCharacter => "control_character",
            Reason::Email => "email",
            Reason::Phone => "phone",
            Reason::Slug => "slug",
        }
    }
}

impl Invalid {
    /// Refused for a reason the message alone says.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid::because(field, Reason::Invalid, message)
    }

    /// Refused for `reason`, explained by `message`.
    pub fn because(field: &'static str, reason: Reason, message: impl Into<String>) -> Self {
        Invalid { field, message: message.into(), reason, params: Vec::new() }
    }

    /// Adds a value the reason speaks of.
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.params.push((name, value.to_string()));
        self
    }

    /// Empty where a value is needed.
    pub fn required(field: &'static str) -> Self {
        Invalid::because(field, Reason::Required, "must not be empty")
    }

    /// Longer than `max` characters (`has` of them).
    pub fn too_long(field: &'static str, max: usize, has: usize) -> Self {
        Invalid::because(field, Reason::TooLong, format!("must be at most {max} characters, has {has}"))
            .with("max", max)
            .with("has", has)
    }
}

/// Longest accepted name (prospect, user, team), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest accepted message body, in characters (WhatsApp's own limit for text is 4,096).
pub const MAX_BODY_CHARS: usize = 4096;

/// A phone number in E.164: `+` then 8 to 15 digits, the first not zero. Spaces, dashes, dots and
/// parentheses are accepted as separators and removed.
pub fn phone(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(16);
    let mut chars = raw.trim().chars();
    match chars.next() {
        Some('+') => out.push('+'),
        _ => {
            return Err(Invalid::because(
                field,
                Reason::Phone,
                "must be in E.164 form, starting with + and the country code",
            ));
        }
    }
    for c in chars {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(Invalid::because(
                    field,
                    Reason::Phone,
                    format!("unexpected character {c:?} in phone number"),
                ));
            }
        }
    }
    let digits = out.len() - 1;
    if !(8..=15).contains(&digits) {
        return Err(Invalid::because(field, Reason::Phone, format!("must have 8 to 15 digits, has {digits}")));
    }
    if out.as_bytes()[1] == b'0' {
        return Err(Invalid::because(field, Reason::Phone, "country code cannot start with 0"));
    }
    Ok(out)
}

/// A WhatsApp business-scoped user id (BSUID, the Cloud API's `user_id`): an ISO 3166 alpha-2
/// country code in capitals, a dot, then 1 to 128 ASCII letters and digits
/// (`US.13491208655302741918`). Parent ids (`US.ENT.…`) are not user ids and are refused.
pub fn bsuid(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    let bad = || {
        Invalid::new(
            field,
            "must be a business-scoped user id: a country code, a dot, then 1 to 128 letters and digits",
        )
    };
    let (country, id) = v.split_once('.').ok_or_else(bad)?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    Ok(v.to_owned())
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn name(field: &'static str, raw: &str) -> Result<String, Invalid> {
    text(field, raw, MAX_NAME_CHARS)
}

/// A message body: trimmed of surrounding blank lines, 1 to [`MAX_BODY_CHARS`] characters;
/// newlines and tabs are kept, other control characters refused.
pub fn body(field: &'static str, raw: &str) -> Result<String, Invalid> {
    text(field, raw, MAX_BODY_CHARS)
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Invalid::required(field));
    }
    let chars = trimmed.chars().count();
    if chars > max {
        return Err(Invalid::too_long(field, max, chars));
    }
    if let Some(c) = trimmed.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t' && *c != '\r') {
        return Err(control_character(field, c));
    }
    Ok(trimmed.to_owned())
}

fn control_character(field: &'static str, c: char) -> Invalid {
    Invalid::because(field, Reason::ControlCharacter, format!("must not contain control character U+{:04X}", c as u32))
        .with("char", format!("U+{:04X}", c as u32))
}

/// An e-mail address, lower-cased: one `@` with text on both sides, a dot in the domain, at most
/// 254 characters, no spaces.
pub fn email(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let e = raw.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if ok {
        Ok(e)
    } else {
        Err(Invalid::because(field, Reason::Email, "must be an e-mail address like name@example.com"))
    }
}

/// A new password: 8 to 1,024 characters.
pub fn password(field: &'static str, raw: &str) -> Result<(), Invalid> {
    let n = raw.chars().count();
    if n < 8 {
        return Err(Invalid::because(field, Reason::TooShort, "must be at least 8 characters").with("min", 8));
    }
    if n > 1024 {
        return Err(Invalid::too_long(field, 1024, n));
    }
    Ok(())
}

/// A tenant slug (it names the tenant at login and in the CLI): 1 to 63 characters of lower-case
/// ASCII letters, digits and `-`, starting with a letter or digit (the same rule as the database's
/// check on `tenants.slug`).
pub fn slug(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::required(field));
    }
    if s.len() > 63 {
        return Err(Invalid::too_long(field, 63, s.chars().count()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(Invalid::because(
            field,
            Reason::Slug,
            format!("may contain only lower-case letters a-z, digits and '-', not {c:?} (e.g. acme-sales)"),
        ));
    }
    if s.starts_with('-') {
        return Err(Invalid::because(field, Reason::Slug, "must start with a letter or a digit"));
    }
    Ok(s.to_owned())
}

/// A search prefix: trimmed, at most 100 characters; `None` when empty.
pub fn search_prefix(field: &'static str, raw: Option<&str>) -> Result<Option<String>, Invalid> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > 100 => Err(Invalid::too_long(field, 100, s.chars().count())),
        Some(s) if s.chars().any(char::is_control) => {
            Err(Invalid::because(field, Reason::ControlCharacter, "must not contain control characters"))
        }
        Some(s) => Ok(Some(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_a_reason_and_its_values() {
        let long = "x".repeat(MAX_NAME_CHARS + 5);
        let e = name("name", &long).unwrap_err();
        assert_eq!((e.field, e.reason.code()), ("name", "too_long"));
        assert_eq!(e.params, vec![("max", MAX_NAME_CHARS.to_string()), ("has", (MAX_NAME_CHARS + 5).to_string())]);
        assert_eq!(e.message, format!("must be at most {MAX_NAME_CHARS} characters, has {}", MAX_NAME_CHARS + 5));
        assert_eq!(name("name", "  ").unwrap_err().reason, Reason::Required);
        assert_eq!(body("body", "a\u{7}b").unwrap_err().reason, Reason::ControlCharacter);
        assert_eq!(email("email", "nope").unwrap_err().reason, Reason::Email);
        assert_eq!(phone("phone", "12").unwrap_err().reason, Reason::Phone);
        assert_eq!(slug("slug", "Acme").unwrap_err().reason, Reason::Slug);
        let short = password("password", "short").unwrap_err();
        assert_eq!((short.reason, short.params), (Reason::TooShort, vec![("min", "8".to_owned())]));
        assert_eq!(Invalid::new("x", "anything").reason, Reason::Invalid);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("slug", " acme-sales ").as_deref(), Ok("acme-sales"));
        assert_eq!(slug("slug", "0a").as_deref(), Ok("0a"));
        assert!(slug("slug", &"a".repeat(63)).is_ok());
        assert!(slug("slug", &"a".repeat(64)).is_err());
        assert!(slug("slug", "").is_err());
        assert!(slug("slug", "-acme").is_err());
        assert!(slug("slug", "Acme").is_err());
        assert!(slug("slug", "acme sales").is_err());
        assert!(slug("slug", "acmé").is_err());
        assert!(slug("slug", "acme_sales").is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(phone("phone", "+52 55 1234-5678").as_deref(), Ok("+525512345678"));
        assert_eq!(phone("phone", " +5215512345678 ").as_deref(), Ok("+5215512345678"));
        assert!(phone("phone", "5512345678").is_err());
        assert!(phone("phone", "+0512345678").is_err());
        assert!(phone("phone", "+12").is_err());
        assert!(phone("phone", "+1234567890123456").is_err());
        assert!(phone("phone", "+52abc12345678").is_err());
        assert!(phone("phone", "+52'; drop table prospects;--").is_err());
    }

    #[test]
    fn bsuids() {
        assert_eq!(bsuid("user_id", " US.13491208655302741918 ").as_deref(), Ok("US.13491208655302741918"));
        assert!(bsuid("user_id", &format!("MX.{}", "a".repeat(128))).is_ok());
        for bad in ["", "US", "US.", "us.123", "USA.123", "US.ENT.123", "US.12 3", "+5215512345678", "US.ñ"] {
            assert!(bsuid("user_id", bad).is_err(), "{bad} accepted");
        }
        assert!(bsuid("user_id", &format!("MX.{}", "a".repeat(129))).is_err());
    }

    #[test]
    fn names_and_bodies() {
        assert_eq!(name("name", "  José Ñúñez  ").as_deref(), Ok("José Ñúñez"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(name("name", "a\u{0007}b").is_err());
        assert_eq!(body("body", "hola\nqué tal").as_deref(), Ok("hola\nqué tal"));
        assert!(body("body", &"y".repeat(4097)).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("email", " Ana@Example.COM ").as_deref(), Ok("ana@example.com"));
        for bad in ["", "ana", "ana@", "@x.com", "ana@x", "a b@x.com", "a@b@c.com", "ana@x."] {
            assert!(email("email", bad).is_err(), "{bad} accepted");
        }
    }
}
