//! What a search for prospects (the inbox's and the prospect list's `q`) matches, written once
//! for the live inbox engine and mirrored by the SQL functions of migration 0028.
//!
//! A query is one of:
//! - **a phone number** when it holds a digit and nothing but digits, spaces and `+ - . ( ) /`:
//!   it matches a prospect whose phone's digits start with the query's digits (international
//!   form: `+52 1 55 1234`, `5215512`), or whose *national number* does (local form:
//!   `55 1234 5678`, `5512345678`). The national number is the digits after the country code
//!   (E.164 country codes are prefix-free: 1 and 7 are one digit long, the list in
//!   [`TWO_DIGIT_COUNTRY_CODES`] two, every other three), less Mexico's mobile `1`
//!   (`+52 1 ...` with ten digits after it) and Argentina's mobile `9` (`+54 9 ...`, likewise);
//! - **words** otherwise: the query is [folded](fold) (accents removed by PostgreSQL's `unaccent`
//!   rules, then lower-cased) and split into words at every ASCII character that is not a letter
//!   or a digit; it matches a prospect when *each* of its words starts *some* word of the folded
//!   name ("lucia" finds "Lucía Pérez", "ROMERO" finds "María Romero", "ma ro" finds both words).
//!   A query without any word (only punctuation) matches nothing.
//!
//! The SQL side (`platica_fold`, `platica_name_key`, `platica_phone_key`, migration 0028) uses
//! PostgreSQL's `unaccent` and `lower`; the table here is a verbatim copy of PostgreSQL 15's
//! `unaccent.rules` (PostgreSQL License), and `search_folds_like_the_database` checks the two
//! agree on every character of it.

use std::collections::HashMap;
use std::sync::OnceLock;

/// E.164 country codes of two digits (1 and 7 are one digit, the rest three).
pub const TWO_DIGIT_COUNTRY_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51",
    "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90",
    "91", "92", "93", "94", "95", "98",
];

const UNACCENT_RULES: &str = include_str!("search/unaccent.rules");

fn unaccent_table() -> &'static HashMap<char, &'static str> {
    static TABLE: OnceLock<HashMap<char, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        UNACCENT_RULES
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(2, '\t');
                let mut src = parts.next()?.chars();
                let c = src.next()?;
                // A character listed without a translation is removed.
                Some((c, parts.next().map_or("", str::trim)))
            })
            .collect()
    })
}

/// `lower(unaccent(s))` as PostgreSQL computes it in a UTF-8 database: every character
/// `unaccent`'s rules list is replaced (or removed), then each character is lower-cased by its
/// simple (one character) mapping.
pub fn fold(s: &str) -> String {
    let table = unaccent_table();
    let mut out = String::with_capacity(s.len());
    let mut push_lower = |c: char| {
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) => out.push(l),
            _ => out.push(c),
        }
    };
    for c in s.chars() {
        match table.get(&c) {
            Some(to) => to.chars().for_each(&mut push_lower),
            None => push_lower(c),
        }
    }
    out
}

/// Whether `c` separates words: every ASCII character but letters and digits.
pub fn is_separator(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_alphanumeric()
}

/// The words of an already folded text.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded.split(is_separator).filter(|w| !w.is_empty())
}

/// The distinct folded words of a name, sorted.
pub fn name_words(name: &str) -> Vec<String> {
    let folded = fold(name);
    let mut out: Vec<String> = words(&folded).map(str::to_owned).collect();
    out.sort();
    out.dedup();
    out
}

/// The national number of a phone's digits (see the module's documentation); `None` when nothing
/// is left after the country code.
pub fn national(digits: &str) -> Option<&str> {
    if !digits.is_ascii() {
        return None;
    }
    let cc = if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if digits.get(..2).is_some_and(|two| TWO_DIGIT_COUNTRY_CODES.contains(&two)) {
        2
    } else {
        3
    };
    let rest = digits.get(cc..)?;
    let mobile = match digits.get(..cc) {
        Some("52") => Some('1'),
        Some("54") => Some('9'),
        _ => None,
    };
    let rest = match mobile {
        Some(m) if rest.len() == 11 && rest.starts_with(m) => &rest[1..],
        _ => rest,
    };
    (!rest.is_empty()).then_some(rest)
}

/// The keys a phone is found by: its digits and its national number (distinct, digits first).
pub fn phone_keys(phone: &str) -> Vec<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2);
    if let Some(n) = national(&digits).filter(|n| *n != digits) {
        out.push(n.to_owned());
    }
    out.insert(0, digits);
    out
}

/// A parsed search query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Digits a phone's digits or national number starts with.
    Phone(String),
    /// Folded words, each of which must start some word of the name (distinct, in query order).
    Words(Vec<String>),
    /// Matches nothing (no word and no digit).
    Nothing,
}

impl Query {
    /// Reads a query (see the module's documentation).
    pub fn parse(q: &str) -> Query {
        let phone_like = q.chars().all(|c| c.is_ascii_digit() || " +-.()/".contains(c));
        if phone_like && q.chars().any(|c| c.is_ascii_digit()) {
            return Query::Phone(q.chars().filter(char::is_ascii_digit).collect());
        }
        let folded = fold(q);
        let mut out: Vec<String> = Vec::new();
        for w in words(&folded) {
            if !out.iter().any(|o| o == w) {
                out.push(w.to_owned());
            }
        }
        if out.is_empty() { Query::Nothing } else { Query::Words(out) }
    }

    /// Whether a prospect named `name` with `phone` matches.
    pub fn matches(&self, name: &str, phone: Option<&str>) -> bool {
        match self {
            Query::Phone(d) => phone.is_some_and(|p| phone_keys(p).iter().any(|k| k.starts_with(d.as_str()))),
            Query::Words(ws) => {
                let names = name_words(name);
                ws.iter().all(|w| names.iter().any(|n| n.starts_with(w.as_str())))
            }
            Query::Nothing => false,
        }
    }

    /// The SQL `LIKE` patterns that must all match `platica_name_key(name)` (for words) or one
    /// of which must match `platica_phone_key(phone)` (for a phone): `% <word>%`. A word holds
    /// no ASCII punctuation, so no `LIKE` wildcard or escape.
    pub fn like_patterns(&self) -> Vec<String> {
        match self {
            Query::Phone(d) => vec![format!("% {d}%")],
            Query::Words(ws) => ws.iter().map(|w| format!("% {w}%")).collect(),
            Query::Nothing => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_accents_and_case() {
        assert_eq!(fold("Lucía ÁNGEL Muñoz Zoë Œuvre straße"), "lucia angel munoz zoe oeuvre strasse");
        assert_eq!(name_words("María  Romero-López"), vec!["lopez", "maria", "romero"]);
        assert_eq!(name_words("¡Hola! ½"), vec!["1", "2", "hola"]);
    }

    #[test]
    fn queries_are_words_or_phones() {
        assert_eq!(Query::parse("Lucía"), Query::Words(vec!["lucia".into()]));
        assert_eq!(Query::parse("ma ro MA"), Query::Words(vec!["ma".into(), "ro".into()]));
        assert_eq!(Query::parse("+52 1 (55) 1234-5678"), Query::Phone("5215512345678".into()));
        assert_eq!(Query::parse("%_\\"), Query::Nothing);
        assert_eq!(Query::parse("Lote 5"), Query::Words(vec!["lote".into(), "5".into()]));
    }

    #[test]
    fn any_word_of_the_name_in_any_case_and_accent() {
        let q = |s: &str| Query::parse(s).matches("María Romero", None);
        assert!(q("romero") && q("ROMERO") && q("maria") && q("Marí") && q("rom mar") && q("ro"));
        assert!(!q("aria") && !q("romero x") && !q("%") && !q("maria-romerox"));
        assert!(Query::parse("lucia").matches("Lucía", None));
    }

    #[test]
    fn phones_in_local_and_international_form() {
        let mx = Some("+5215512345678");
        for q in ["55 1234 5678", "5512345678", "+52 1 55 1234 5678", "521", "55-12", "(55) 12.34"] {
            assert!(Query::parse(q).matches("x", mx), "{q}");
        }
        for q in ["1234 5678", "+52 55 1234", "6"] {
            assert!(!Query::parse(q).matches("x", mx), "{q}");
        }
        assert_eq!(phone_keys("+12125550100"), vec!["12125550100", "2125550100"]);
        assert_eq!(phone_keys("+34612345678"), vec!["34612345678", "612345678"]);
        assert_eq!(phone_keys("+5491123456789"), vec!["5491123456789", "1123456789"]);
        assert_eq!(phone_keys("+525512345678"), vec!["525512345678", "5512345678"]);
        assert_eq!(phone_keys("+351912345678"), vec!["351912345678", "912345678"]);
        assert_eq!(national("52"), None);
        assert!(Query::parse("612 345").matches("x", Some("+34612345678")));
    }
}
