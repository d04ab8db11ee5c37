//! The CSV dialects of the exports, and of imports that read the same files back:
//!
//! - `standard` (the default): RFC 4180 with `,`, CRLF line ends, English column
//!   names (the API's field names), UTF-8 without BOM — for scripts;
//! - `excel`: what German spreadsheets open without an import dialog: a UTF-8 byte
//!   order mark (else Excel reads Windows-1252 and shows mojibake), `;` (the list
//!   separator of German locales, else everything lands in one column), CRLF and
//!   German column names.
//!
//! Both defuse formulas (CSV injection, OWASP): a cell a spreadsheet would evaluate
//! gets a leading `'`, which spreadsheets take as "this is text". Numbers and phone
//! numbers stay intact; see [`is_formula`]. [`undefuse`] undoes it exactly, so what an
//! export wrote, an import reads back unchanged.
use std::borrow::Cow;
use std::io::Write;

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Column names: the English one (the API's field name, used by the standard
/// dialect and accepted by imports) and the German one of the Excel dialect.
pub const HEADERS: &[(&str, &str)] = &[
    ("membershipNumber", "Mitgliedsnummer"),
    ("firstName", "Vorname"),
    ("lastName", "Nachname"),
    ("email", "E-Mail"),
    ("phone", "Telefon"),
    ("street", "Straße"),
    ("postalCode", "PLZ"),
    ("city", "Ort"),
    ("country", "Land"),
    ("birthDate", "Geburtsdatum"),
    ("status", "Status"),
    ("joinedOn", "Eintrittsdatum"),
    ("leftOn", "Austrittsdatum"),
    ("votingRights", "Stimmrecht"),
    ("homeUnit", "Gliederung"),
    ("iban", "IBAN"),
    ("bic", "BIC"),
    ("accountHolder", "Kontoinhaber"),
    // The member-counts report.
    ("period_start", "Beginn"),
    ("period_end", "Ende"),
    ("count", "Mitglieder"),
];

/// The English name of a column given in either language (case-insensitive, as
/// people retype headers), for imports.
pub fn english_header(header: &str) -> Option<&'static str> {
    let header = header.trim();
    HEADERS
        .iter()
        .find(|(en, de)| en.eq_ignore_ascii_case(header) || de.to_lowercase() == header.to_lowercase())
        .map(|(en, _)| *en)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    #[default]
    Standard,
    Excel,
}

impl Dialect {
    pub const NAMES: &'static [&'static str] = &["standard", "excel"];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "standard" => Some(Self::Standard),
            "excel" => Some(Self::Excel),
            _ => None,
        }
    }

    pub const fn delimiter(self) -> u8 {
        match self {
            Self::Standard => b',',
            Self::Excel => b';',
        }
    }

    /// What goes before the header row.
    pub const fn preamble(self) -> &'static [u8] {
        match self {
            Self::Standard => b"",
            Self::Excel => BOM,
        }
    }

    /// The header of a column in this dialect, from its English name.
    pub fn header(self, english: &'static str) -> &'static str {
        match self {
            Self::Standard => english,
            Self::Excel => HEADERS.iter().find(|(en, _)| *en == english).map_or(english, |(_, de)| de),
        }
    }

    /// A writer of records in this dialect (the preamble is the caller's: a
    /// streamed export writes it once, before the first chunk). Cells should go
    /// through [`defuse`].
    pub fn writer<W: Write>(self, out: W) -> csv::Writer<W> {
        csv::WriterBuilder::new()
            .delimiter(self.delimiter())
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(out)
    }

    /// A reader of this dialect (header row first); a BOM before it is skipped.
    pub fn reader<R: std::io::Read>(self, input: R) -> csv::Reader<R> {
        csv::ReaderBuilder::new().delimiter(self.delimiter()).has_headers(true).from_reader(input)
    }

    /// The dialect of a file from its first line (the header): the separator it
    /// uses more, `;` for Excel's; a BOM decides only a header without either (a
    /// spreadsheet may save `,` with a BOM, or a script `;` without).
    pub fn detect(first_line: &[u8]) -> Self {
        let semicolons = first_line.iter().filter(|b| **b == b';').count();
        let commas = first_line.iter().filter(|b| **b == b',').count();
        match semicolons.cmp(&commas) {
            std::cmp::Ordering::Greater => Self::Excel,
            std::cmp::Ordering::Less => Self::Standard,
            std::cmp::Ordering::Equal if first_line.starts_with(BOM) => Self::Excel,
            std::cmp::Ordering::Equal => Self::Standard,
        }
    }
}

/// Whether a spreadsheet would evaluate the cell: it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return (OWASP's list; also their full-width forms, which
/// some spreadsheets normalise) — unless it is a plain number:
///
/// - `+` and a digit, then only digits and spaces: a phone number (`+49 30 1234567`).
///   It cannot call a function or reach another cell, so it stays as it is.
/// - `-` and digits with at most one decimal point or comma: a negative number.
///
/// Anything else after a sign is an expression and is defused, even harmless
/// arithmetic such as `-2+3`: a spreadsheet would show `1` and lose the text, and
/// telling arithmetic from references and function calls is exactly the parsing
/// that defusing must not depend on.
pub fn is_formula(value: &str) -> bool {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest = chars.as_str();
    match first {
        '=' | '@' | '\t' | '\r' | '\u{FF1D}' | '\u{FF20}' | '\u{FF0B}' | '\u{FF0D}' => true,
        '+' => !is_phone_number(rest),
        '-' => !is_unsigned_number(rest),
        _ => false,
    }
}

/// A digit, then digits and spaces.
fn is_phone_number(rest: &str) -> bool {
    rest.starts_with(|c: char| c.is_ascii_digit()) && rest.chars().all(|c| c.is_ascii_digit() || c == ' ')
}

/// Digits with at most one `.` or `,` between them.
fn is_unsigned_number(rest: &str) -> bool {
    let (whole, fraction) = match rest.split_once(['.', ',']) {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

/// A cell needs the `'` when it is a formula once its own leading apostrophes are
/// set aside: that way `'=x` becomes `''=x` and [`undefuse`] can tell the two apart,
/// while ordinary text with an apostrophe (`'s-Hertogenbosch`) is left alone.
fn needs_prefix(value: &str) -> bool {
    is_formula(value.trim_start_matches('\''))
}

/// The cell as written: a formula gets a leading `'`.
pub fn defuse(value: &str) -> Cow<'_, str> {
    if needs_prefix(value) { Cow::Owned(format!("'{value}")) } else { Cow::Borrowed(value) }
}

/// The value of a cell that [`defuse`] wrote.
pub fn undefuse(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_prefix(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_defused_and_numbers_left_alone() {
        for (value, written) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("+SUM(1,2)", "'+SUM(1,2)"),
            ("@cmd", "'@cmd"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("＝1+1", "'＝1+1"),
            ("+49 30 1234567", "+49 30 1234567"),
            ("+4930123", "+4930123"),
            ("-5", "-5"),
            ("-2.5", "-2.5"),
            ("-2,5", "-2,5"),
            ("+", "'+"),
            ("-", "'-"),
            ("+ 49", "'+ 49"),
            ("+49 (0)30 123", "'+49 (0)30 123"),
            ("-1-", "'-1-"),
            ("Müller", "Müller"),
            ("'s-Hertogenbosch", "'s-Hertogenbosch"),
            ("'=x", "''=x"),
            ("2026-03-15", "2026-03-15"),
            ("", ""),
        ] {
            assert_eq!(defuse(value), written, "{value:?}");
            assert_eq!(undefuse(written), value, "{written:?}");
        }
    }

    proptest! {
        #[test]
        fn undefuse_reverses_defuse(value in "['=+@\\-\t\r0-9 a-z]{0,8}") {
            let written = defuse(&value);
            prop_assert_eq!(undefuse(&written), value.as_str());
            // What is written is never a formula.
            prop_assert!(!is_formula(&written));
        }
    }

    #[test]
    fn headers_translate_both_ways() {
        assert_eq!(Dialect::Excel.header("postalCode"), "PLZ");
        assert_eq!(Dialect::Standard.header("postalCode"), "postalCode");
        assert_eq!(english_header("plz"), Some("postalCode"));
        assert_eq!(english_header(" Straße "), Some("street"));
        assert_eq!(english_header("IBAN"), Some("iban"));
        assert_eq!(english_header("membershipnumber"), Some("membershipNumber"));
        assert_eq!(english_header("password"), None);
        // No name stands for two columns.
        for (en, de) in HEADERS {
            assert_eq!(english_header(en), Some(*en));
            assert_eq!(english_header(de), Some(*en), "{de}");
        }
    }

    #[test]
    fn excel_files_read_back_as_written() {
        let values =
            ["1001", "=HYPERLINK(\"x\")", "Komma, \"Zitat\"; Semikolon", "+49 30 1234567", "zwei\r\nZeilen"];
        let mut out = Dialect::Excel.preamble().to_vec();
        {
            let mut w = Dialect::Excel.writer(&mut out);
            w.write_record(
                ["membershipNumber", "lastName", "city", "phone", "street"].map(|h| Dialect::Excel.header(h)),
            )
            .expect("header");
            w.write_record(values.iter().map(|v| defuse(v).into_owned())).expect("row");
            w.flush().expect("flush");
        }
        assert!(out.starts_with(BOM));
        assert!(out.ends_with(b"\r\n"));
        let first_line = out.split(|b| *b == b'\n').next().unwrap_or_default();
        assert_eq!(first_line, "\u{FEFF}Mitgliedsnummer;Nachname;Ort;Telefon;Straße\r".as_bytes());
        let dialect = Dialect::detect(first_line);
        assert_eq!(dialect, Dialect::Excel);
        let mut r = dialect.reader(&out[..]);
        let headers: Vec<&str> = r.headers().expect("headers").iter().filter_map(english_header).collect();
        assert_eq!(headers, ["membershipNumber", "lastName", "city", "phone", "street"]);
        let row = r.records().next().expect("a row").expect("valid");
        let read: Vec<&str> = row.iter().map(undefuse).collect();
        assert_eq!(read, values);
        assert_eq!(Dialect::detect(b"membershipNumber,lastName"), Dialect::Standard);
        assert_eq!(Dialect::detect(b"\xEF\xBB\xBFmembershipNumber,lastName"), Dialect::Standard);
        assert_eq!(Dialect::detect(b"Mitgliedsnummer;Nachname"), Dialect::Excel);
        assert_eq!(Dialect::detect(b"\xEF\xBB\xBFMitgliedsnummer"), Dialect::Excel);
    }
}
