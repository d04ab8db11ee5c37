//! Input checks shared by the workflows: each names the field it refuses, in the
//! API's spelling (`firstName`, `address.postalCode`).
//!
//! Text hygiene lives here, for every text a workflow stores or searches: no NUL
//! or other control characters (ANSI escape sequences start with one), no
//! bidirectional overrides or isolates (they make `Anna` display as something
//! else in lists, exports and logs), and no line breaks in one-line fields. Free
//! text (notes, reasons, descriptions) may keep line breaks and tabs.
use super::DomainError;
use chrono::{Days, NaiveDate};
use iban::{Iban, IbanLike};

/// The earliest birth date taken as plausible.
pub const EARLIEST_BIRTH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// Any date the API accepts lies in these years: no member, payment or office is
/// older, and nothing is planned further ahead.
pub const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// A date within [`PLAUSIBLE_YEARS`].
pub fn plausible_date(d: NaiveDate) -> bool {
    use chrono::Datelike;
    PLAUSIBLE_YEARS.contains(&d.year())
}

/// What a text may not contain: NUL and other control characters (line breaks and
/// tabs only where `multiline`), bidirectional overrides and isolates, and in one
/// line no Unicode line or paragraph separators either.
fn hygiene(field: &'static str, value: &str, multiline: bool) -> Result<(), DomainError> {
    for c in value.chars() {
        let allowed_break = multiline && matches!(c, '\n' | '\t' | '\r');
        if c.is_control() && !allowed_break {
            let what = if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
                "a line break"
            } else if c == '\u{1b}' {
                "an escape sequence"
            } else {
                "a control character"
            };
            return Err(DomainError::bad_input(field, format!("must not contain {what}")));
        }
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            return Err(DomainError::bad_input(
                field,
                "must not contain bidirectional overrides or isolates",
            ));
        }
        if !multiline && matches!(c, '\u{2028}' | '\u{2029}') {
            return Err(DomainError::bad_input(field, "must not contain a line break"));
        }
    }
    Ok(())
}

fn checked(field: &'static str, value: &str, max: usize, multiline: bool) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::bad_input(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(DomainError::bad_input(field, format!("must be at most {max} characters")));
    }
    hygiene(field, v, multiline)?;
    Ok(v.to_owned())
}

/// One line of text: trimmed, non-empty, at most `max` characters, clean.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    checked(field, value, max, false)
}

/// Like `text`, but empty means "none".
pub fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// Free text (a note, a reason): like `text`, line breaks and tabs allowed.
pub fn free_text(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    checked(field, value, max, true)
}

/// Like `free_text`, but empty means "none".
pub fn optional_free_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => free_text(field, v, max).map(Some),
    }
}

/// What a caller searches for: clean one-line text of at most `max` characters
/// (empty is allowed: no search).
pub fn search(field: &'static str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::bad_input(field, format!("must be at most {max} characters")));
    }
    hygiene(field, value.trim(), false)
}

/// A birth date: from 1900 to today.
pub fn birth_date(field: &'static str, value: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    if value < EARLIEST_BIRTH_DATE || value > today {
        return Err(DomainError::bad_input(
            field,
            format!("must lie between {EARLIEST_BIRTH_DATE} and {today}"),
        ));
    }
    Ok(value)
}

/// The day a membership begins: not before the member was born, and at most the
/// statutory notice ahead (as a leaving date).
pub fn joined_on(
    field: &'static str,
    value: NaiveDate,
    birth_date: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<NaiveDate, DomainError> {
    let latest =
        today.checked_add_days(Days::new(super::retention::MAX_NOTICE_DAYS)).unwrap_or(NaiveDate::MAX);
    if value > latest {
        return Err(DomainError::bad_input(
            field,
            format!("may lie at most two years ahead (until {latest})"),
        ));
    }
    if let Some(born) = birth_date
        && value < born
    {
        return Err(DomainError::bad_input(field, format!("must not be before the birth date {born}")));
    }
    if value < EARLIEST_BIRTH_DATE {
        return Err(DomainError::bad_input(field, format!("must not be before {EARLIEST_BIRTH_DATE}")));
    }
    Ok(value)
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces); delivery
/// is the proof, not a regular expression.
pub fn email(field: &'static str, value: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(v) = optional_text(field, value, 254)? else { return Ok(None) };
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if !ok {
        return Err(DomainError::bad_input(field, "is not an e-mail address"));
    }
    Ok(Some(v))
}

/// ISO 3166-1 alpha-2, upper case (`DE`).
pub fn country(field: &'static str, value: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(v) = optional_text(field, value, 2)? else { return Ok(None) };
    let v = v.to_ascii_uppercase();
    if v.len() != 2 || !v.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(DomainError::bad_input(field, "must be a two-letter country code such as DE"));
    }
    Ok(Some(v))
}

/// A date that is not after `today`.
pub fn not_future(field: &'static str, value: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    if value > today {
        return Err(DomainError::bad_input(field, format!("must not be after {today}")));
    }
    Ok(value)
}

/// `to` not before `from`.
pub fn ordered(
    field: &'static str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(), DomainError> {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(DomainError::bad_input(field, format!("must not be before {from}")));
    }
    Ok(())
}

/// A valid IBAN (structure, country format and checksum), in electronic format.
pub fn iban(field: &'static str, value: &str) -> Result<String, DomainError> {
    let parsed: Iban = value
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| DomainError::bad_input(field, "is not a valid IBAN (format or check digits)"))?;
    Ok(parsed.electronic_str().to_owned())
}

/// A BIC: 8 or 11 characters, bank code and country letters, location and branch
/// alphanumeric.
pub fn bic(field: &'static str, value: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(v) = optional_text(field, value, 11)? else { return Ok(None) };
    let v: String = v.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let ok = (v.len() == 8 || v.len() == 11)
        && v[..6].chars().all(|c| c.is_ascii_uppercase())
        && v[6..].chars().all(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(DomainError::bad_input(field, "is not a BIC (8 or 11 characters)"));
    }
    Ok(Some(v))
}

/// An IBAN shown in audit records and logs: country, check digits and the last
/// four characters only.
pub fn mask_iban(iban: &str) -> String {
    let n = iban.chars().count();
    if n <= 8 {
        return "****".to_owned();
    }
    let head: String = iban.chars().take(4).collect();
    let tail: String = iban.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checksum_is_verified_and_normalised() {
        assert_eq!(
            iban("iban", "de44 5001 0517 5407 3249 31").ok().as_deref(),
            Some("DE44500105175407324931")
        );
        let err = iban("iban", "DE44500105175407324932").expect_err("wrong check digits");
        assert!(matches!(err, DomainError::BadInput { field: "iban", .. }));
        assert!(iban("iban", "hello").is_err());
    }

    #[test]
    fn texts_refuse_control_characters_escapes_and_bidi_controls() {
        for bad in [
            "Anna\u{0}Lena",
            "Anna\nLena",
            "Anna\rLena",
            "\u{1b}[31mAnna",
            "Anna\u{202E}anneL",
            "Anna\u{2066}x",
            "A\u{2028}B",
            "A\u{85}B",
            "A\u{9b}31m",
        ] {
            assert!(
                matches!(text("firstName", bad, 100), Err(DomainError::BadInput { field: "firstName", .. })),
                "{bad:?}"
            );
        }
        assert_eq!(text("firstName", "Zoë-Ünal O'Brien", 100).ok().as_deref(), Some("Zoë-Ünal O'Brien"));
        assert_eq!(
            text("lastName", "אברהם", 100).ok().as_deref(),
            Some("אברהם"),
            "right-to-left scripts are fine"
        );
        assert!(free_text("note", "Zeile 1\nZeile 2\tEnde", 100).is_ok());
        assert!(free_text("note", "bad\u{0}", 100).is_err());
        assert!(free_text("note", "bad\u{1b}[2J", 100).is_err());
        assert!(search("filter.search", "\u{0}", 100).is_err());
        assert!(search("filter.search", "", 100).is_ok());
    }

    #[test]
    fn birth_and_joining_dates_are_plausible() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let today = d("2026-03-15");
        assert!(birth_date("birthDate", d("1899-12-31"), today).is_err());
        assert!(birth_date("birthDate", d("1900-01-01"), today).is_ok());
        assert!(birth_date("birthDate", d("2026-03-16"), today).is_err());
        assert!(
            joined_on("joinedOn", d("2010-01-01"), Some(d("2011-01-01")), today).is_err(),
            "before birth"
        );
        assert!(joined_on("joinedOn", d("9999-12-31"), None, today).is_err());
        assert!(joined_on("joinedOn", d("2027-03-15"), None, today).is_ok(), "a year ahead");
        assert!(joined_on("joinedOn", d("2011-01-01"), Some(d("2011-01-01")), today).is_ok());
        assert!(!plausible_date(d("1800-01-01")) && plausible_date(d("2199-12-31")));
    }

    #[test]
    fn text_fields_name_the_field() {
        assert!(matches!(text("firstName", "  ", 10), Err(DomainError::BadInput { field: "firstName", .. })));
        assert_eq!(text("firstName", " Anna ", 10).ok().as_deref(), Some("Anna"));
        assert!(text("firstName", "Annabellaaa", 10).is_err());
    }

    #[test]
    fn emails_countries_bics_and_dates() {
        assert!(email("email", Some("a@b.de")).is_ok());
        for bad in ["a@b", "ab.de", "a b@c.de", "a@.de", "a@b.de."] {
            assert!(email("email", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(email("email", Some(" ")).ok(), Some(None), "empty means none");
        assert_eq!(country("country", Some("de")).ok(), Some(Some("DE".into())));
        assert!(country("country", Some("D1")).is_err());
        assert_eq!(bic("bic", Some("cobadeffxxx")).ok(), Some(Some("COBADEFFXXX".into())));
        assert!(bic("bic", Some("COBA12")).is_err());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert!(not_future("paidOn", d("2026-03-16"), d("2026-03-15")).is_err());
        assert!(ordered("periodTo", Some(d("2026-02-01")), Some(d("2026-01-31"))).is_err());
        assert_eq!(mask_iban("DE44500105175407324931"), "DE44…4931");
    }
}
