//! Tenant-defined contact fields: what a definition may say (a key, a label, a kind, a select's
//! options) and what a prospect's value for it must look like. Pure checks; the store keeps the
//! definitions and the values, the HTTP layer names the field in its 422.

use crate::validate::Invalid;

/// The kinds a custom field may have.
pub const KINDS: [&str; 4] = ["text", "number", "date", "select"];
/// Most custom fields a tenant may define.
pub const MAX_FIELDS: usize = 50;
/// Most options of a `select` field.
pub const MAX_OPTIONS: usize = 50;
/// Longest label or option, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest `text` value, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest prospect notes, in characters.
pub const MAX_NOTES_CHARS: usize = 4000;

/// A field's key as the API and the web app name it: 1 to 40 characters of lower-case ASCII
/// letters, digits and `_`, starting with a letter (`budget`, `visit_date`).
pub fn key(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let k = raw.trim();
    let ok = !k.is_empty()
        && k.len() <= 40
        && k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(k.to_owned())
    } else {
        Err(Invalid::new(field, "must be 1 to 40 lower-case letters a-z, digits or '_', starting with a letter"))
    }
}

/// A field's kind: one of [`KINDS`].
pub fn kind(field: &'static str, raw: &str) -> Result<String, Invalid> {
    if KINDS.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(Invalid::new(field, format!("must be one of {}", KINDS.join(", "))))
    }
}

/// A label or a select option: trimmed, 1 to [`MAX_LABEL_CHARS`], no control characters.
pub fn label(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if n > MAX_LABEL_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_LABEL_CHARS} characters, has {n}")));
    }
    if t.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(t.to_owned())
}

/// A select field's options: 1 to [`MAX_OPTIONS`] labels, no repeats; other kinds take none.
pub fn options(field: &'static str, kind: &str, raw: &[String]) -> Result<Vec<String>, Invalid> {
    if kind != "select" {
        return if raw.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Invalid::new(field, "only select fields have options"))
        };
    }
    if raw.is_empty() || raw.len() > MAX_OPTIONS {
        return Err(Invalid::new(field, format!("a select field needs 1 to {MAX_OPTIONS} options")));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for o in raw {
        let o = label(field, o)?;
        if out.contains(&o) {
            return Err(Invalid::new(field, format!("option {o:?} is repeated")));
        }
        out.push(o);
    }
    Ok(out)
}

/// Checks one value against its field's kind and options and returns it normalised (trimmed;
/// a number without surrounding spaces; a date as `YYYY-MM-DD`). The error is the message only:
/// the caller names the field (`custom.<key>`).
pub fn value(kind: &str, options: &[String], raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err("must not be empty (send null to clear it)".to_owned());
    }
    match kind {
        "number" => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && v.len() <= 40 && !v.contains(['e', 'E']) => Ok(v.to_owned()),
            _ => Err("must be a number like 1500 or 12.5".to_owned()),
        },
        "date" => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| "must be a date like 2026-12-31".to_owned()),
        "select" => {
            if options.iter().any(|o| o == v) {
                Ok(v.to_owned())
            } else {
                Err(format!("must be one of: {}", options.join(", ")))
            }
        }
        _ => {
            let n = v.chars().count();
            if n > MAX_TEXT_CHARS {
                Err(format!("must be at most {MAX_TEXT_CHARS} characters, has {n}"))
            } else if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
                Err("must not contain control characters".to_owned())
            } else {
                Ok(v.to_owned())
            }
        }
    }
}

/// Prospect notes: trimmed, at most [`MAX_NOTES_CHARS`]; `None` when blank (clears them).
pub fn notes(field: &'static str, raw: &str) -> Result<Option<String>, Invalid> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let n = t.chars().count();
    if n > MAX_NOTES_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_NOTES_CHARS} characters, has {n}")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(Some(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key("key", " budget ").as_deref(), Ok("budget"));
        assert!(key("key", "visit_date2").is_ok());
        for bad in ["", "Budget", "2nd", "_x", "a-b", "a b", "ñ", &"a".repeat(41)] {
            assert!(key("key", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn options_only_for_selects() {
        let o = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(options("options", "select", &o(&[" a", "b "])), Ok(o(&["a", "b"])));
        assert!(options("options", "select", &[]).is_err());
        assert!(options("options", "select", &o(&["a", "a "])).is_err());
        assert!(options("options", "text", &o(&["a"])).is_err());
        assert_eq!(options("options", "number", &[]), Ok(vec![]));
    }

    #[test]
    fn values_follow_their_kind() {
        let opts = vec!["house".to_owned(), "flat".to_owned()];
        assert_eq!(value("number", &[], " 1500.5 ").as_deref(), Ok("1500.5"));
        assert!(value("number", &[], "12 mil").is_err());
        assert!(value("number", &[], "NaN").is_err());
        assert!(value("number", &[], "1e400").is_err());
        assert_eq!(value("date", &[], "2026-02-28").as_deref(), Ok("2026-02-28"));
        assert!(value("date", &[], "2026-02-30").is_err());
        assert!(value("date", &[], "28/02/2026").is_err());
        assert_eq!(value("select", &opts, "flat").as_deref(), Ok("flat"));
        assert!(value("select", &opts, "Flat").is_err());
        assert_eq!(value("text", &[], " hola ").as_deref(), Ok("hola"));
        assert!(value("text", &[], &"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(value("text", &[], "   ").is_err());
        assert!(value("text", &[], "a\u{0}b").is_err());
    }

    #[test]
    fn notes_are_bounded_and_blank_clears() {
        assert_eq!(notes("notes", "  "), Ok(None));
        assert_eq!(notes("notes", " call back\nafter 5 "), Ok(Some("call back\nafter 5".to_owned())));
        assert!(notes("notes", &"n".repeat(MAX_NOTES_CHARS + 1)).is_err());
    }
}
