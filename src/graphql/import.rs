//! `importMembers`: the member import (`domain::imports`) for scripts that send
//! rows instead of a CSV file; the same rules, the same report.
use super::error::{ApiError, gql};
use super::member::MemberStatus;
use super::scalars::Date;
use super::{db, id, request, signed_in};
use crate::authz::{Authz, Invalidate};
use crate::domain::imports::{self, ImportOptions, ImportRow, Mode, RowList, idempotency};
use crate::domain::reporting::Column;
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject};
use std::sync::Arc;

/// One member to import, with the columns of the CSV export. A field left out is
/// a column the row does not have; `null` is an empty cell. With a
/// `membershipNumber` the row updates that member (only the fields given; `null`
/// clears an optional one); without, it creates a member with the next number.
#[derive(InputObject, Debug, Clone, Default)]
pub struct MemberImportRow {
    /// Finds the member to update; never names a new member.
    pub membership_number: MaybeUndefined<String>,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub street: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub birth_date: MaybeUndefined<Date>,
    pub status: MaybeUndefined<MemberStatus>,
    pub joined_on: MaybeUndefined<Date>,
    /// Read only (endMembership sets it): accepted when it is the stored date.
    pub left_on: MaybeUndefined<Date>,
    pub voting_rights: MaybeUndefined<bool>,
    /// The home unit: its id, short name or name. Required for a new member.
    pub home_unit: MaybeUndefined<String>,
    /// Sets the bank account (bank.write); an import never deletes one.
    pub iban: MaybeUndefined<String>,
    pub bic: MaybeUndefined<String>,
    pub account_holder: MaybeUndefined<String>,
}

impl MemberImportRow {
    fn into_row(self, line: u64) -> ImportRow {
        let mut row = ImportRow::new(line);
        let mut set = |column: Column, value: MaybeUndefined<String>| match value {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => row.set(column, ""),
            MaybeUndefined::Value(v) => row.set(column, v),
        };
        let date = |d: MaybeUndefined<Date>| d.map_value(|d| d.0.to_string());
        set(Column::MembershipNumber, self.membership_number);
        set(Column::FirstName, self.first_name);
        set(Column::LastName, self.last_name);
        set(Column::Email, self.email);
        set(Column::Phone, self.phone);
        set(Column::Street, self.street);
        set(Column::PostalCode, self.postal_code);
        set(Column::City, self.city);
        set(Column::Country, self.country);
        set(Column::BirthDate, date(self.birth_date));
        set(Column::Status, self.status.map_value(|s| entity::MemberStatus::from(s).as_str().to_owned()));
        set(Column::JoinedOn, date(self.joined_on));
        set(Column::LeftOn, date(self.left_on));
        set(Column::VotingRights, self.voting_rights.map_value(|v| v.to_string()));
        set(Column::HomeUnit, self.home_unit);
        set(Column::Iban, self.iban);
        set(Column::Bic, self.bic);
        set(Column::AccountHolder, self.account_holder);
        row
    }
}

/// What happens to the good rows when some rows are refused.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Nothing is written if any row is refused.
    #[default]
    AllOrNothing,
    /// The good rows are written, the refused ones reported.
    ValidRows,
}

impl From<ImportMode> for Mode {
    fn from(m: ImportMode) -> Self {
        match m {
            ImportMode::AllOrNothing => Mode::AllOrNothing,
            ImportMode::ValidRows => Mode::ValidRows,
        }
    }
}

impl From<Mode> for ImportMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::AllOrNothing => ImportMode::AllOrNothing,
            Mode::ValidRows => ImportMode::ValidRows,
        }
    }
}

/// Why a row was refused.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportErrorCode {
    BadUserInput,
    Forbidden,
    /// A membership number that matches no member you can see.
    NotFound,
    /// An ARCHIVED unit, or a value already taken.
    Conflict,
    /// A row without a number that matches a member you can see (same first name,
    /// last name and birth date) but says something else about them.
    Duplicate,
}

impl From<imports::ErrorCode> for ImportErrorCode {
    fn from(c: imports::ErrorCode) -> Self {
        match c {
            imports::ErrorCode::BadUserInput => Self::BadUserInput,
            imports::ErrorCode::Forbidden => Self::Forbidden,
            imports::ErrorCode::NotFound => Self::NotFound,
            imports::ErrorCode::Conflict => Self::Conflict,
            imports::ErrorCode::Duplicate => Self::Duplicate,
        }
    }
}

/// A refused row.
#[derive(SimpleObject, Debug, Clone)]
pub struct ImportError {
    /// The row's position in `rows`, from 1 (in a CSV file: its line).
    pub line: u64,
    /// The column to blame, if one is.
    pub field: Option<String>,
    pub code: ImportErrorCode,
    pub message: String,
    /// FORBIDDEN: the permission missing.
    pub permission: Option<String>,
    /// DUPLICATE: the number of the member the row matches.
    pub membership_number: Option<String>,
}

/// What an import did, or would do (dry run, or refused).
#[derive(SimpleObject, Debug, Clone)]
pub struct ImportReport {
    pub dry_run: bool,
    pub mode: ImportMode,
    /// The changes are stored: false for a dry run, and for an ALL_OR_NOTHING
    /// import with a refused row (the counts then say what would have happened).
    pub committed: bool,
    /// The report is the stored one of an earlier import with the same
    /// idempotency key.
    pub replayed: bool,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// All refused rows; `errors` lists the first 1,000.
    pub error_count: u64,
    pub errors: Vec<ImportError>,
}

impl ImportReport {
    fn new(report: imports::Report, replayed: bool) -> Self {
        Self {
            dry_run: report.dry_run,
            mode: report.mode.into(),
            committed: report.committed,
            replayed,
            rows: report.rows,
            created: report.created,
            updated: report.updated,
            unchanged: report.unchanged,
            error_count: report.error_count,
            errors: report
                .errors
                .into_iter()
                .map(|e| ImportError {
                    line: e.line,
                    field: e.field,
                    code: e.code.into(),
                    message: e.message,
                    permission: e.permission,
                    membership_number: e.membership_number,
                })
                .collect(),
        }
    }
}

/// How long an import's statements may run in all on SQLite (one transaction):
/// the configured import timeout.
#[derive(Clone, Copy, Debug)]
pub struct ImportTimeout(pub std::time::Duration);

const DEFAULT_IMPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports members: every row is checked with the rules of createMember,
    /// updateMember and setBankAccount (and what R13 asks of them at the row's home
    /// unit), and by default nothing is written if any row is refused. `dryRun`
    /// reports without writing. The same rows twice change nothing the second time.
    /// `idempotencyKey` (e.g. a UUID) makes a retry after a lost answer return the
    /// first import's report instead of importing again. Large imports go through
    /// `POST /imports/members.csv`, which streams a file of any size; this takes
    /// what fits into one request.
    async fn import_members(
        &self,
        ctx: &Context<'_>,
        rows: Vec<MemberImportRow>,
        #[graphql(default = false)] dry_run: bool,
        #[graphql(default)] mode: ImportMode,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ImportReport> {
        signed_in(ctx)?;
        if let Some(key) = &idempotency_key {
            idempotency::check_key("idempotencyKey", key).map_err(gql)?;
        }
        let req = request(ctx);
        let rows: Vec<ImportRow> =
            rows.into_iter().zip(1_u64..).map(|(row, line)| row.into_row(line)).collect();
        let options = ImportOptions { dry_run, mode: mode.into(), idempotency_key };
        let budget = ctx.data_opt::<ImportTimeout>().map_or(DEFAULT_IMPORT_TIMEOUT, |t| t.0);
        let conn = &*db(ctx).await?;
        let actor = req.actor();
        let outcome = crate::db::with_statement_budget(
            budget,
            imports::import_members(conn, &actor, &mut RowList::new(rows), &options, id::org_unit_id),
        )
        .await
        .map_err(|e| gql(ApiError::from(e)))?;
        if !outcome.users_changed.is_empty() {
            // R6: a member whose status changed may have gained or lost rights.
            let authz = ctx.data::<Arc<Authz>>()?;
            for user_id in &outcome.users_changed {
                authz.user_changed(*user_id);
            }
        }
        Ok(ImportReport::new(outcome.report, outcome.replayed))
    }
}
