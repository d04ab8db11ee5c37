//! The cells of an import row, read into the inputs of the single writes
//! (`NewMember`, `MemberChanges`, `BankAccountInput`), whose own checks then apply.
//! Here only the cell formats: dates, flags, statuses.
use super::{ImportRow, RowError};
use crate::domain::members::{AddressInput, BankAccountInput, MemberChanges, NewMember, Patch};
use crate::domain::reporting::Column;
use chrono::NaiveDate;
use entity::{MemberStatus, bank_account};

/// A date as the export writes it (`2026-03-15`), or as German spreadsheets turn it
/// into when a file is edited and saved (`15.03.2026`).
pub fn date(column: Column, value: &str) -> Result<NaiveDate, RowError> {
    let v = value.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d.%m.%Y"))
        .map_err(|_| RowError::bad_input(column, "not a date (YYYY-MM-DD or DD.MM.YYYY)"))
}

/// `true`/`false` as the export writes them, also `1`/`0`, `ja`/`nein`, and
/// `WAHR`/`FALSCH`, which German spreadsheets save instead.
pub fn flag(column: Column, value: &str) -> Result<bool, RowError> {
    match value.trim().to_lowercase().as_str() {
        "true" | "1" | "ja" | "yes" | "wahr" => Ok(true),
        "false" | "0" | "nein" | "no" | "falsch" => Ok(false),
        _ => Err(RowError::bad_input(column, "must be true or false")),
    }
}

pub fn status(value: &str) -> Result<MemberStatus, RowError> {
    match value.trim().to_ascii_uppercase().as_str() {
        "APPLICANT" => Ok(MemberStatus::Applicant),
        "ACTIVE" => Ok(MemberStatus::Active),
        "INACTIVE" => Ok(MemberStatus::Inactive),
        "LEFT" => Ok(MemberStatus::Left),
        _ => Err(RowError::bad_input(Column::Status, "must be APPLICANT, ACTIVE, INACTIVE or LEFT")),
    }
}

/// The non-empty value of a cell.
fn value(row: &ImportRow, column: Column) -> Option<&str> {
    row.get(column).filter(|v| !v.trim().is_empty())
}

/// A new member from a row without a membership number: an empty cell is a
/// missing value, so the defaults of createMember apply (ACTIVE, joined today, no
/// voting rights). The home unit is the caller's (resolved by reference).
pub fn new_member(row: &ImportRow, home_unit_id: i64) -> Result<NewMember, RowError> {
    let text = |c: Column| value(row, c).map(str::to_owned);
    Ok(NewMember {
        home_unit_id,
        membership_number: None,
        first_name: row.get(Column::FirstName).unwrap_or_default().to_owned(),
        last_name: row.get(Column::LastName).unwrap_or_default().to_owned(),
        birth_date: value(row, Column::BirthDate).map(|v| date(Column::BirthDate, v)).transpose()?,
        gender: None,
        email: text(Column::Email),
        phone: text(Column::Phone),
        address: AddressInput {
            street: text(Column::Street),
            postal_code: text(Column::PostalCode),
            city: text(Column::City),
            country: text(Column::Country),
        },
        status: value(row, Column::Status).map(status).transpose()?,
        joined_on: value(row, Column::JoinedOn).map(|v| date(Column::JoinedOn, v)).transpose()?,
        voting_rights: value(row, Column::VotingRights)
            .map(|v| flag(Column::VotingRights, v))
            .transpose()?
            .unwrap_or(false),
        tags: Vec::new(),
    })
}

/// How the cells of a row become changes of an existing member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// A row with a membership number: every column present changes, an empty cell
    /// clears an optional field (and is refused for one that cannot be empty).
    Update,
    /// A row without a number compared with a member it may duplicate: only what
    /// the row says (non-empty cells) counts.
    Compare,
}

/// The changes a row makes to a member (the home unit and the bank columns aside).
pub fn changes(row: &ImportRow, reading: Reading) -> Result<MemberChanges, RowError> {
    let cell = |c: Column| match reading {
        Reading::Update => row.get(c),
        Reading::Compare => value(row, c),
    };
    let optional_text = |c: Column| -> Patch<String> {
        cell(c).map(|v| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned))
    };
    let optional_date = |c: Column| -> Result<Patch<NaiveDate>, RowError> {
        cell(c).map(|v| if v.trim().is_empty() { Ok(None) } else { date(c, v).map(Some) }).transpose()
    };
    let required = |c: Column| -> Result<Option<&str>, RowError> {
        match cell(c) {
            Some(v) if v.trim().is_empty() => Err(RowError::bad_input(c, "must not be empty")),
            other => Ok(other),
        }
    };
    Ok(MemberChanges {
        home_unit_id: None,
        first_name: cell(Column::FirstName).map(str::to_owned),
        last_name: cell(Column::LastName).map(str::to_owned),
        birth_date: optional_date(Column::BirthDate)?,
        gender: None,
        email: optional_text(Column::Email),
        phone: optional_text(Column::Phone),
        street: optional_text(Column::Street),
        postal_code: optional_text(Column::PostalCode),
        city: optional_text(Column::City),
        country: optional_text(Column::Country),
        status: required(Column::Status)?.map(status).transpose()?,
        joined_on: optional_date(Column::JoinedOn)?,
        voting_rights: required(Column::VotingRights)?.map(|v| flag(Column::VotingRights, v)).transpose()?,
        tags: None,
    })
}

/// The leaving date is set by endMembership (with its retention rule), never by an
/// import: the column is accepted (exports have it) as long as it says what is
/// stored.
pub fn check_left_on(row: &ImportRow, stored: Option<NaiveDate>) -> Result<(), RowError> {
    let given = value(row, Column::LeftOn).map(|v| date(Column::LeftOn, v)).transpose()?;
    if given != stored && row.get(Column::LeftOn).is_some() {
        return Err(RowError::bad_input(
            Column::LeftOn,
            "a membership ends through endMembership, not by an import; leave this column as exported",
        ));
    }
    Ok(())
}

/// The bank account a row sets, if any: only a row with an IBAN touches it (an
/// import never deletes a bank account). A missing BIC or account holder column
/// keeps the stored one.
pub fn bank_account(
    row: &ImportRow,
    stored: Option<&bank_account::Model>,
) -> Result<Option<BankAccountInput>, RowError> {
    let Some(iban) = value(row, Column::Iban) else {
        for c in [Column::Bic, Column::AccountHolder] {
            if value(row, c).is_some() {
                return Err(RowError::bad_input(
                    Column::Iban,
                    format!("required when {} is given", c.name()),
                ));
            }
        }
        return Ok(None);
    };
    let bic = match row.get(Column::Bic) {
        Some(v) => Some(v.to_owned()),
        None => stored.and_then(|b| b.bic.clone()),
    };
    let account_holder = match row.get(Column::AccountHolder) {
        Some(v) => v.to_owned(),
        None => stored.map(|b| b.account_holder.clone()).unwrap_or_default(),
    };
    Ok(Some(BankAccountInput { iban: iban.to_owned(), bic, account_holder }))
}

/// The import column of a field named by the single writes' checks.
pub fn column_of(field: &str) -> Option<Column> {
    let name = match field {
        "address.street" => "street",
        "address.postalCode" => "postalCode",
        "address.city" => "city",
        "address.country" => "country",
        "homeUnitId" => "homeUnit",
        other => other,
    };
    Column::parse(name)
}

/// The import column of a key of the audit record's member JSON (`member_json`).
pub fn column_of_key(key: &str) -> Option<Column> {
    Some(match key {
        "membership_number" => Column::MembershipNumber,
        "home_unit_id" => Column::HomeUnit,
        "first_name" => Column::FirstName,
        "last_name" => Column::LastName,
        "birth_date" => Column::BirthDate,
        "email" => Column::Email,
        "phone" => Column::Phone,
        "street" => Column::Street,
        "postal_code" => Column::PostalCode,
        "city" => Column::City,
        "country" => Column::Country,
        "status" => Column::Status,
        "joined_on" => Column::JoinedOn,
        "left_on" => Column::LeftOn,
        "voting_rights" => Column::VotingRights,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[(Column, &str)]) -> ImportRow {
        let mut r = ImportRow::new(2);
        for (c, v) in cells {
            r.set(*c, *v);
        }
        r
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn dates_flags_and_statuses_in_the_formats_spreadsheets_write() {
        assert_eq!(date(Column::BirthDate, " 2001-02-03 ").ok(), Some(d("2001-02-03")));
        assert_eq!(date(Column::BirthDate, "03.02.2001").ok(), Some(d("2001-02-03")));
        let err = date(Column::BirthDate, "2001-02-30").expect_err("no such day");
        assert_eq!(err.field.as_deref(), Some("birthDate"));
        assert!(date(Column::JoinedOn, "02/03/2001").is_err());
        for (v, b) in [("true", true), ("WAHR", true), ("1", true), ("Falsch", false), ("nein", false)] {
            assert_eq!(flag(Column::VotingRights, v).ok(), Some(b), "{v}");
        }
        assert!(flag(Column::VotingRights, "vielleicht").is_err());
        assert_eq!(status("inactive").ok(), Some(MemberStatus::Inactive));
        assert!(status("gone").is_err());
    }

    #[test]
    fn new_members_take_the_defaults_for_empty_cells() {
        let r = row(&[
            (Column::FirstName, "Anna"),
            (Column::LastName, "Berg"),
            (Column::Status, ""),
            (Column::VotingRights, ""),
            (Column::Email, " "),
            (Column::BirthDate, "2010-05-06"),
        ]);
        let m = new_member(&r, 7).expect("valid");
        assert_eq!((m.home_unit_id, m.status, m.voting_rights, m.email), (7, None, false, None));
        assert_eq!(m.birth_date, Some(d("2010-05-06")));
        assert!(new_member(&row(&[(Column::JoinedOn, "gestern")]), 7).is_err());
    }

    #[test]
    fn updates_change_the_columns_present_and_clear_with_empty_cells() {
        let r = row(&[(Column::City, ""), (Column::Email, "a@b.de"), (Column::BirthDate, "")]);
        let c = changes(&r, Reading::Update).expect("valid");
        assert_eq!(c.city, Some(None), "an empty cell clears");
        assert_eq!(c.email, Some(Some("a@b.de".into())));
        assert_eq!(c.birth_date, Some(None));
        assert_eq!(c.phone, None, "an absent column stays");
        let err =
            changes(&row(&[(Column::Status, "")]), Reading::Update).expect_err("status cannot be empty");
        assert_eq!(err.field.as_deref(), Some("status"));
        // Compared with a possible duplicate, empty cells say nothing.
        let c = changes(&row(&[(Column::City, ""), (Column::Status, "")]), Reading::Compare).expect("valid");
        assert_eq!((c.city, c.status), (None, None));
    }

    #[test]
    fn left_on_is_read_only() {
        assert!(check_left_on(&row(&[]), Some(d("2020-01-01"))).is_ok());
        assert!(check_left_on(&row(&[(Column::LeftOn, "2020-01-01")]), Some(d("2020-01-01"))).is_ok());
        assert!(check_left_on(&row(&[(Column::LeftOn, "")]), None).is_ok());
        assert!(check_left_on(&row(&[(Column::LeftOn, "")]), Some(d("2020-01-01"))).is_err());
        assert!(check_left_on(&row(&[(Column::LeftOn, "2021-01-01")]), None).is_err());
    }

    #[test]
    fn bank_columns_need_an_iban_and_keep_what_is_absent() {
        assert!(bank_account(&row(&[(Column::Iban, "")]), None).expect("valid").is_none());
        let Err(err) = bank_account(&row(&[(Column::Bic, "COBADEFFXXX")]), None) else {
            panic!("a BIC without an IBAN is refused");
        };
        assert_eq!(err.field.as_deref(), Some("iban"));
        let stored = bank_account::Model {
            member_id: 1,
            iban: "DE44500105175407324931".into(),
            bic: Some("INGDDEFFXXX".into()),
            account_holder: "Anna Berg".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let b = bank_account(&row(&[(Column::Iban, "DE89370400440532013000")]), Some(&stored))
            .expect("valid")
            .expect("an account");
        assert_eq!((b.bic.as_deref(), b.account_holder.as_str()), (Some("INGDDEFFXXX"), "Anna Berg"));
        let b =
            bank_account(&row(&[(Column::Iban, "DE89370400440532013000"), (Column::Bic, "")]), Some(&stored))
                .expect("valid")
                .expect("an account");
        assert_eq!(b.bic.as_deref(), Some(""), "an empty BIC cell clears it (the check reads empty as none)");
    }

    #[test]
    fn fields_of_the_checks_are_import_columns() {
        for field in ["firstName", "address.postalCode", "homeUnitId", "iban", "accountHolder", "birthDate"] {
            assert!(column_of(field).is_some(), "{field}");
        }
        assert_eq!(column_of("address.city"), Some(Column::City));
        assert_eq!(column_of_key("postal_code"), Some(Column::PostalCode));
        assert_eq!(column_of_key("tags"), None);
    }
}
