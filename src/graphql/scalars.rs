//! `Date`: an ISO 8601 calendar date (`2026-03-15`), the way users write dates.
use crate::domain::validate;
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

const DATE_FORMAT: &str = "expected a date as YYYY-MM-DD, in the years 1900 to 2199";
const DATE_TIME_FORMAT: &str = "expected an RFC 3339 date-time, in the years 1900 to 2199";

/// Exactly `YYYY-MM-DD` (`2025-1-5`, `+2025-01-05` and `-0001-01-01` are not dates
/// here), a day of the calendar, and plausible (the domain's range of years).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    parse_calendar_date(s).filter(|d| validate::plausible_date(*d))
}

fn parse_calendar_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    let number = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

fn parse_date_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
        .filter(|d| validate::plausible_date(d.date_naive()))
}

/// The check of the request's input values (`inputs::ScalarCheck`) for the
/// scalars defined here.
pub fn check(name: &str, value: &Value) -> Option<Result<(), String>> {
    let ok = match (name, value) {
        ("Date", Value::String(s)) => parse_date(s).is_some(),
        ("DateTime", Value::String(s)) => parse_date_time(s).is_some(),
        ("Date" | "DateTime", _) => false,
        _ => return None,
    };
    let format = if name == "Date" { DATE_FORMAT } else { DATE_TIME_FORMAT };
    Some(if ok { Ok(()) } else { Err(format.to_owned()) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// A calendar date in ISO 8601 format, `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_date(s).map(Date).ok_or_else(|| InputValueError::custom(DATE_FORMAT)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Validation refuses a malformed literal before execution.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_date(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

/// An instant, RFC 3339 in UTC (`2026-03-15T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// An instant in RFC 3339 format, in UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                parse_date_time(s).map(DateTime).ok_or_else(|| InputValueError::custom(DATE_TIME_FORMAT))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_date_time(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_yyyy_mm_dd_and_real() {
        assert_eq!(parse_date("2025-01-05"), NaiveDate::from_ymd_opt(2025, 1, 5));
        for bad in [
            "2025-1-5",
            "2025-02-30",
            "+2025-01-05",
            "-0001-01-01",
            "0000-01-01",
            "1800-01-01",
            "9999-12-31",
            "2025-01-05 ",
            "20250105",
            "２０２５-01-05",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert!(check("Date", &Value::String("2025-02-30".into())).is_some_and(|r| r.is_err()));
        assert!(check("DateTime", &Value::String("2025-02-03T10:00:00Z".into())).is_some_and(|r| r.is_ok()));
        assert!(check("Int", &Value::from(1)).is_none(), "not ours");
    }
}
