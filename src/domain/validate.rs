//! Input checks shared by the workflows: each names the field it refuses, in the
//! API's spelling (`firstName`, `address.postalCode`).
use super::DomainError;
use chrono::NaiveDate;
use iban::{Iban, IbanLike};

/// Trimmed, non-empty, at most `max` characters.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::bad_input(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(DomainError::bad_input(field, format!("must be at most {max} characters")));
    }
    Ok(v.to_owned())
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
