//! Member imports: rows with the export's columns, from a CSV file
//! (`POST /imports/members.csv`, read by [`csv`]) or a list (`importMembers`), go
//! through [`import_members`].
//!
//! - **Matching.** A row with a membership number updates the member with that
//!   number (only the columns present; an empty cell clears an optional field). A
//!   row without one creates a member with the next number from the counter, unless
//!   a member the caller can see has the same first name, last name and birth date:
//!   then the row is `unchanged` if it says nothing different, else a `DUPLICATE`
//!   error naming that member's number.
//! - **R11.** Numbers are looked up among the members the caller can see only. A
//!   number that matches none is NOT_FOUND, whether nobody has it or someone the
//!   caller cannot see: the column finds members and never names new ones (new
//!   members always get the counter's next number), so an import can never run into
//!   the unique number of a member it cannot see and reveal it. Duplicates are
//!   looked for among visible members only.
//! - **R13, per row.** What the single write asks at the row's home unit: a row with
//!   a number is an updateMember (member.write, at the destination too when
//!   homeUnit moves it), a row without is a createMember (member.create), a row with
//!   an IBAN is a setBankAccount (bank.write). The checks are the single writes' own
//!   (`validate_new_member`, `apply_changes`, `validate_bank_account`). ARCHIVED
//!   units refuse changes; a row that changes nothing is not a change.
//! - **All or nothing.** Everything runs in one transaction, chunk by chunk (one
//!   lookup per kind per chunk, writes in multi-row statements of up to
//!   [`BATCH_ROWS`] rows, audit records included). Rows are written as they are checked, so later rows see earlier ones
//!   (the same person twice in a file is created once); at the end the transaction
//!   commits only if no row was refused (`Mode::AllOrNothing`, the default) and it
//!   is not a dry run. A dry run does all of it and rolls back.
//! - **Constant memory.** Rows stream in chunks; a report lists at most
//!   [`MAX_LISTED_ERRORS`] errors and counts all.
//! - **Idempotency.** The same file twice: the second time every row matches what
//!   the first wrote (`unchanged`). With an `Idempotency-Key` the report of a
//!   committed import is kept for a day ([`idempotency`]): a retry with the same
//!   key and the same rows gets it again instead of importing again.
pub mod cells;
pub mod csv;
pub mod idempotency;

use super::members::{
    apply_changes, changed, member_json, validate_bank_account, validate_new_member, writable,
};
use super::seed::allocate_membership_numbers;
use super::{Actor, DomainError, audit, validate};
use crate::authz::Grants;
use crate::authz::Permission;
use crate::authz::members::{member_access, visible_members, writes};
use crate::authz::units::can_see_unit;
use crate::db::{WriteTransaction, write_transaction};
use crate::domain::reporting::Column;
use cells::Reading;
use chrono::NaiveDate;
use entity::{audit_event, bank_account, member, org_unit, user};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

/// Rows per chunk: read, checked and written together.
pub const CHUNK_ROWS: usize = 1_000;
/// A report lists at most this many errors; `errorCount` counts all.
pub const MAX_LISTED_ERRORS: usize = 1_000;
/// A progress line in the log every this many rows.
pub const PROGRESS_EVERY: u64 = 10_000;
/// Unit references remembered during an import (id, short name or name → unit);
/// forgotten all at once beyond this, so a file of made-up names cannot grow it.
const MAX_CACHED_UNITS: usize = 20_000;
/// Rows per multi-row statement, at most. Statements come in few sizes (this, and
/// powers of two below it for the rest; lookups padded to powers of two): each
/// connection caches its prepared statements, and on SQLite a cached statement of
/// thousands of parameters holds megabytes, so a new size per chunk would make
/// memory grow with the file. Few sizes also let PostgreSQL reuse its plans.
const BATCH_ROWS: usize = 256;

const COLUMNS: usize = Column::ALL.len();

/// One row to import: the cells of the columns the file (or the list) has, by the
/// export's column names. `None`: the column is absent; `Some("")`: the cell is
/// empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRow {
    /// The line in the file (the header is line 1), or the position in the list
    /// (from 1).
    pub line: u64,
    cells: [Option<String>; COLUMNS],
}

impl ImportRow {
    pub fn new(line: u64) -> Self {
        Self { line, cells: Default::default() }
    }

    pub fn set(&mut self, column: Column, value: impl Into<String>) {
        self.cells[column as usize] = Some(value.into());
    }

    pub fn get(&self, column: Column) -> Option<&str> {
        self.cells[column as usize].as_deref()
    }

    /// The membership number the row names, if any.
    fn number(&self) -> Option<&str> {
        self.get(Column::MembershipNumber).map(str::trim).filter(|n| !n.is_empty())
    }

    /// The home unit reference, if the cell is not empty.
    fn unit_reference(&self) -> Option<&str> {
        self.get(Column::HomeUnit).map(str::trim).filter(|n| !n.is_empty())
    }

    fn has_iban(&self) -> bool {
        self.get(Column::Iban).is_some_and(|v| !v.trim().is_empty())
    }
}

/// A row as read: the row, or why it cannot be used at all (e.g. a field count
/// that does not match the header).
pub type ReadRow = Result<ImportRow, RowError>;

/// Where the rows come from: a CSV file being uploaded, or a list.
pub trait RowSource: Send {
    /// The next rows (at most [`CHUNK_ROWS`]), `None` after the last. An error
    /// ends the import: the file cannot be read on.
    fn next_rows(&mut self) -> impl Future<Output = Result<Option<Vec<ReadRow>>, DomainError>> + Send;
}

/// The rows of `importMembers`.
pub struct RowList(std::vec::IntoIter<ImportRow>);

impl RowList {
    pub fn new(rows: Vec<ImportRow>) -> Self {
        Self(rows.into_iter())
    }
}

impl RowSource for RowList {
    async fn next_rows(&mut self) -> Result<Option<Vec<ReadRow>>, DomainError> {
        let rows: Vec<ReadRow> = self.0.by_ref().take(CHUNK_ROWS).map(Ok).collect();
        Ok((!rows.is_empty()).then_some(rows))
    }
}

/// What happens to the good rows when some rows are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// Nothing is written if any row is refused.
    #[default]
    AllOrNothing,
    /// The good rows are written, the refused ones reported.
    ValidRows,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["ALL_OR_NOTHING", "VALID_ROWS"];

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ALL_OR_NOTHING" => Some(Self::AllOrNothing),
            "VALID_ROWS" => Some(Self::ValidRows),
            _ => None,
        }
    }
}

/// Why a row was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadUserInput,
    Forbidden,
    /// A membership number that matches no member the caller can see.
    NotFound,
    /// A value already taken, or an ARCHIVED unit.
    Conflict,
    /// A row without a number that matches a member the caller can see, but says
    /// something different about them.
    Duplicate,
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowError {
    pub line: u64,
    /// The column (the export's name), when one is to blame.
    pub field: Option<String>,
    pub code: ErrorCode,
    pub message: String,
    /// FORBIDDEN: the permission missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// DUPLICATE: the number of the member the row matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_number: Option<String>,
}

impl RowError {
    fn new(code: ErrorCode, field: Option<Column>, message: impl Into<String>) -> Self {
        Self {
            line: 0,
            field: field.map(|c| c.name().to_owned()),
            code,
            message: message.into(),
            permission: None,
            membership_number: None,
        }
    }

    pub fn bad_input(column: Column, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadUserInput, Some(column), message)
    }

    /// A row that is not a row: `field` names nothing.
    pub fn unreadable(line: u64, message: impl Into<String>) -> Self {
        Self { line, ..Self::new(ErrorCode::BadUserInput, None, message) }
    }

    fn denied(permission: Permission, field: Option<Column>, message: impl Into<String>) -> Self {
        Self {
            permission: Some(permission.as_str().to_owned()),
            ..Self::new(ErrorCode::Forbidden, field, message)
        }
    }

    pub fn at(self, line: u64) -> Self {
        Self { line, ..self }
    }
}

/// What an import did (or, in a dry run or when refused, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub dry_run: bool,
    pub mode: Mode,
    /// The changes are stored. False for a dry run, and for an all-or-nothing
    /// import with a refused row; the counts then say what would have happened.
    pub committed: bool,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// All refused rows; `errors` lists the first [`MAX_LISTED_ERRORS`].
    pub error_count: u64,
    pub errors: Vec<RowError>,
}

impl Report {
    fn add_error(&mut self, e: RowError) {
        self.error_count += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(e);
        }
    }

    /// An all-or-nothing import with a refused row writes nothing.
    pub fn refused(&self) -> bool {
        self.mode == Mode::AllOrNothing && self.error_count > 0
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub mode: Mode,
    /// The client's `Idempotency-Key` (ignored for dry runs, which change nothing).
    pub idempotency_key: Option<String>,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// The report is the stored one of an earlier request with the same key.
    pub replayed: bool,
    /// Users whose member's status changed: their rights may have changed (R6), and
    /// their cached grants must be dropped once the import is committed.
    pub users_changed: Vec<i64>,
}

/// How the unit a row names is found: by id (`unit_id` decodes the API's ids), by
/// short name, or by name; among the units the caller can see (R14), so that a
/// unit they cannot see is "no such unit" like a missing one.
#[derive(Debug, Clone)]
enum UnitLookup {
    Found(Arc<org_unit::Model>),
    Missing,
    /// More than one visible unit has this name.
    Ambiguous,
}

/// A member a row refers to, as this import has left it so far.
#[derive(Debug, Clone)]
struct Target {
    member: member::Model,
    unit: Arc<org_unit::Model>,
    bank: Option<bank_account::Model>,
}

/// A row without a number, checked, before the duplicate check decides.
struct Candidate {
    row: ImportRow,
    unit: Arc<org_unit::Model>,
    member: member::Model,
    bank: Option<ValidBank>,
}

type ValidBank = (String, Option<String>, String);
type Identity = (String, String, Option<NaiveDate>);

/// Why a row is not written: the row's fault, or the import's end.
enum Refusal {
    Row(RowError),
    Fatal(DomainError),
}

impl From<RowError> for Refusal {
    fn from(e: RowError) -> Self {
        Self::Row(e)
    }
}

impl From<DomainError> for Refusal {
    fn from(e: DomainError) -> Self {
        let column = |field: &str| cells::column_of(field);
        match e {
            DomainError::BadInput { field, message } => Self::Row(RowError {
                field: Some(column(field).map_or(field, Column::name).to_owned()),
                ..RowError::new(ErrorCode::BadUserInput, None, message)
            }),
            DomainError::Conflict(m) => Self::Row(RowError::new(ErrorCode::Conflict, None, m)),
            DomainError::Taken { field, message } => Self::Row(RowError {
                field: Some(column(field).map_or(field, Column::name).to_owned()),
                ..RowError::new(ErrorCode::Conflict, None, message)
            }),
            DomainError::Denied { permission, message, .. } => {
                Self::Row(RowError::denied(permission, None, message))
            }
            DomainError::Forbidden(m) => Self::Row(RowError::new(ErrorCode::Forbidden, None, m)),
            DomainError::NotFound => Self::Row(RowError::new(ErrorCode::NotFound, None, "not found")),
            // The database's trouble is the import's end, not a row's fault.
            e @ (DomainError::Db(_)
            | DomainError::Internal(_)
            | DomainError::Unavailable
            | DomainError::Timeout) => Self::Fatal(e),
        }
    }
}

/// The writes of one chunk.
#[derive(Default)]
struct Writes {
    creates: Vec<(member::Model, Option<ValidBank>)>,
    /// Changed members by id (a member named twice in a chunk is written once, as
    /// the last row left it).
    updates: HashMap<i64, member::Model>,
    banks: HashMap<i64, bank_account::Model>,
    audits: Vec<audit::AuditRecord<'static>>,
    status_changed: Vec<i64>,
}

/// Where new membership numbers come from.
enum Numbers {
    /// The counter, on the import's transaction: on SQLite, where the import holds
    /// the only write lock anyway (a second transaction would wait for it forever).
    InTransaction,
    /// The counter, on a short transaction of its own per chunk: on PostgreSQL,
    /// where the counter's row lock would otherwise make every createMember wait
    /// for the whole import. A refused import leaves a gap in the numbers.
    OwnTransaction,
    /// A dry run on PostgreSQL takes no numbers: stand-ins that no real number
    /// can equal (a control character), rolled back with the rest.
    StandIn { prefix: String, next: u64 },
}

impl Numbers {
    fn new(db: &DatabaseConnection, dry_run: bool) -> Self {
        match (db.get_database_backend(), dry_run) {
            (DatabaseBackend::Postgres, false) => Self::OwnTransaction,
            (DatabaseBackend::Postgres, true) => {
                let token: u32 = rand::random();
                Self::StandIn { prefix: format!("\u{1}{token:08x}-"), next: 0 }
            }
            _ => Self::InTransaction,
        }
    }

    async fn take(
        &mut self,
        db: &DatabaseConnection,
        txn: &WriteTransaction,
        n: usize,
    ) -> Result<Vec<String>, DomainError> {
        let count = n as i64;
        let first = match self {
            Self::InTransaction => allocate_membership_numbers(txn, count).await?,
            Self::OwnTransaction => {
                let own = write_transaction(db).await?;
                let first = allocate_membership_numbers(&own, count).await?;
                own.commit().await?;
                first
            }
            Self::StandIn { prefix, next } => {
                let out = (0..n as u64).map(|i| format!("{prefix}{}", *next + i)).collect();
                *next += n as u64;
                return Ok(out);
            }
        };
        Ok((first..first + count).map(|n| n.to_string()).collect())
    }
}

/// SHA-256 over the mode and every row as read: what an `Idempotency-Key` is
/// bound to.
struct Fingerprint(Sha256);

impl Fingerprint {
    fn new(mode: Mode) -> Self {
        let mut h = Sha256::new();
        h.update(match mode {
            Mode::AllOrNothing => b"A",
            Mode::ValidRows => b"V",
        });
        Self(h)
    }

    fn add(&mut self, row: &ReadRow) {
        let h = &mut self.0;
        match row {
            Ok(row) => {
                h.update(b"R");
                h.update(row.line.to_le_bytes());
                for cell in &row.cells {
                    match cell {
                        None => h.update(b"-"),
                        Some(v) => {
                            h.update(b"+");
                            h.update((v.len() as u64).to_le_bytes());
                            h.update(v.as_bytes());
                        }
                    }
                }
            }
            Err(e) => {
                h.update(b"E");
                h.update(e.line.to_le_bytes());
                h.update((e.message.len() as u64).to_le_bytes());
                h.update(e.message.as_bytes());
            }
        }
    }

    fn finish(self) -> String {
        self.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Imports the rows of `source` for `actor` (see the module documentation).
/// `unit_id` reads the API's unit ids (`homeUnit` may hold one). A source that
/// cannot be read on ends the import with an error, and nothing is written.
pub async fn import_members<S: RowSource>(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    source: &mut S,
    options: &ImportOptions,
    unit_id: fn(&str) -> Option<i64>,
) -> Result<Outcome, DomainError> {
    let user_id = actor.signed_in()?;
    let key = match (&options.idempotency_key, options.dry_run) {
        (Some(k), false) => Some(idempotency::key_hash(k)),
        _ => None,
    };
    if let Some(key) = &key
        && let Some(stored) = idempotency::find(db, user_id, key, actor.now).await?
    {
        return replay(source, options, stored).await;
    }
    let sqlite = db.get_database_backend() == DatabaseBackend::Sqlite;
    if !sqlite {
        // On its own: inside, the deleted rows would stay locked, and a concurrent
        // import deleting them too would wait for this one to end.
        idempotency::delete_expired(db, actor.now).await?;
    }
    let txn = write_transaction(db).await?;
    if sqlite {
        // The first statement writes: the import takes SQLite's write lock now
        // (waiting for it if need be), before it reads anything it will write on;
        // a write after a read would fail at once if another write came between.
        idempotency::delete_expired(&txn, actor.now).await?;
    }
    if let Some(key) = &key
        && !idempotency::claim(&txn, user_id, key, actor.now).await?
    {
        // A request with this key committed first (PostgreSQL waited for it).
        txn.rollback().await?;
        return match idempotency::find(db, user_id, key, actor.now).await? {
            Some(stored) => replay(source, options, stored).await,
            None => Err(DomainError::Conflict(
                "an import with this Idempotency-Key is running; retry when it is done".into(),
            )),
        };
    }
    let mut run = Run {
        db,
        actor,
        grants: actor.grants,
        unit_id,
        units: HashMap::new(),
        numbers: Numbers::new(db, options.dry_run),
        report: Report { dry_run: options.dry_run, mode: options.mode, ..Report::default() },
        fingerprint: Fingerprint::new(options.mode),
        users_changed: BTreeSet::new(),
        next_progress: PROGRESS_EVERY,
    };
    while let Some(rows) = source.next_rows().await? {
        run.chunk(&txn, rows).await?;
    }
    let Run { mut report, fingerprint, users_changed, .. } = run;
    if options.dry_run || report.refused() {
        txn.rollback().await?;
        tracing::info!(
            rows = report.rows,
            errors = report.error_count,
            dry_run = options.dry_run,
            "member import not committed"
        );
        return Ok(Outcome { report, replayed: false, users_changed: Vec::new() });
    }
    report.committed = true;
    if let Some(key) = &key {
        idempotency::complete(&txn, user_id, key, &fingerprint.finish(), &report).await?;
    }
    txn.commit().await?;
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        errors = report.error_count,
        "member import committed"
    );
    Ok(Outcome { report, replayed: false, users_changed: users_changed.into_iter().collect() })
}

/// The stored report of an earlier import with the same key, if the rows are the
/// same (read to the end to tell); else CONFLICT.
async fn replay<S: RowSource>(
    source: &mut S,
    options: &ImportOptions,
    stored: entity::import_key::Model,
) -> Result<Outcome, DomainError> {
    let mut fingerprint = Fingerprint::new(options.mode);
    while let Some(rows) = source.next_rows().await? {
        rows.iter().for_each(|r| fingerprint.add(r));
    }
    if stored.fingerprint.as_deref() != Some(fingerprint.finish().as_str()) {
        return Err(DomainError::Conflict(
            "this Idempotency-Key was used for a different import; use a new key for new rows".into(),
        ));
    }
    let report: Report = stored
        .report
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| DomainError::Internal("stored import report unreadable".into()))?;
    Ok(Outcome { report, replayed: true, users_changed: Vec::new() })
}

struct Run<'a> {
    db: &'a DatabaseConnection,
    actor: &'a Actor<'a>,
    grants: &'a Grants,
    unit_id: fn(&str) -> Option<i64>,
    units: HashMap<String, UnitLookup>,
    numbers: Numbers,
    report: Report,
    fingerprint: Fingerprint,
    users_changed: BTreeSet<i64>,
    next_progress: u64,
}

impl Run<'_> {
    async fn chunk(&mut self, txn: &WriteTransaction, rows: Vec<ReadRow>) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut good = Vec::with_capacity(rows.len());
        for row in rows {
            self.fingerprint.add(&row);
            self.report.rows += 1;
            match row {
                Ok(row) => good.push(row),
                Err(e) => errors.push(e),
            }
        }
        self.resolve_units(txn, &good).await?;
        let mut targets = self.targets(txn, &good).await?;
        let mut writes = Writes::default();
        let mut candidates = Vec::new();
        for row in good {
            let line = row.line;
            let outcome = match row.number() {
                Some(number) => match targets.get_mut(number) {
                    Some(target) => self.update(&row, target, &mut writes),
                    None => Err(Refusal::Row(RowError::new(
                        ErrorCode::NotFound,
                        Some(Column::MembershipNumber),
                        format!("no member with number {number} that you can see"),
                    ))),
                },
                None => self.candidate(row).map(|c| {
                    candidates.push(c);
                    None
                }),
            };
            match outcome {
                Ok(Some(true)) => self.report.updated += 1,
                Ok(Some(false)) => self.report.unchanged += 1,
                Ok(None) => {}
                Err(Refusal::Row(e)) => errors.push(e.at(line)),
                Err(Refusal::Fatal(e)) => return Err(e),
            }
        }
        if !candidates.is_empty() {
            let mut matches = self.identity_matches(txn, &candidates).await?;
            // Earlier rows of this chunk that create a member, by identity.
            let mut earlier: HashMap<Identity, (u64, Target)> = HashMap::new();
            for c in candidates {
                let line = c.row.line;
                match self.create(c, &mut matches, &mut earlier, &mut writes) {
                    Ok(true) => self.report.created += 1,
                    Ok(false) => self.report.unchanged += 1,
                    Err(Refusal::Row(e)) => errors.push(e.at(line)),
                    Err(Refusal::Fatal(e)) => return Err(e),
                }
            }
        }
        self.write(txn, writes).await?;
        errors.sort_by_key(|e| e.line);
        for e in errors {
            self.report.add_error(e);
        }
        if self.report.rows >= self.next_progress {
            self.next_progress = (self.report.rows / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
            tracing::info!(
                rows = self.report.rows,
                created = self.report.created,
                updated = self.report.updated,
                unchanged = self.report.unchanged,
                errors = self.report.error_count,
                request_id = self.actor.request_id.as_deref().unwrap_or_default(),
                "member import in progress"
            );
        }
        Ok(())
    }

    /// Looks up the unit references of `rows` not seen yet: one statement.
    async fn resolve_units(&mut self, txn: &WriteTransaction, rows: &[ImportRow]) -> Result<(), DbErr> {
        let wanted: BTreeSet<&str> = rows
            .iter()
            .filter_map(ImportRow::unit_reference)
            .filter(|r| !self.units.contains_key(*r))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        if self.units.len() + wanted.len() > MAX_CACHED_UNITS {
            self.units.clear();
        }
        let ids: Vec<i64> = padded(wanted.iter().filter_map(|r| (self.unit_id)(r)).collect());
        let texts: Vec<&str> = padded(wanted.iter().copied().collect());
        let found: Vec<Arc<org_unit::Model>> = org_unit::Entity::find()
            .filter(
                Condition::any()
                    .add(org_unit::Column::Id.is_in(ids))
                    .add(org_unit::Column::ShortName.is_in(texts.clone()))
                    .add(org_unit::Column::Name.is_in(texts)),
            )
            .all(txn)
            .await?
            .into_iter()
            .filter(|u| can_see_unit(self.grants, u))
            .map(Arc::new)
            .collect();
        for reference in wanted {
            let by_id = (self.unit_id)(reference).and_then(|id| found.iter().find(|u| u.id == id));
            let lookup = match by_id {
                Some(u) => UnitLookup::Found(u.clone()),
                None => {
                    let short: Vec<_> =
                        found.iter().filter(|u| u.short_name.as_deref() == Some(reference)).collect();
                    let named: Vec<_> = found.iter().filter(|u| u.name == reference).collect();
                    match (short.as_slice(), named.as_slice()) {
                        ([u], _) | ([], [u]) => UnitLookup::Found((*u).clone()),
                        ([], []) => UnitLookup::Missing,
                        _ => UnitLookup::Ambiguous,
                    }
                }
            };
            self.units.insert(reference.to_owned(), lookup);
        }
        Ok(())
    }

    fn unit(&self, reference: &str) -> Result<Arc<org_unit::Model>, RowError> {
        match self.units.get(reference) {
            Some(UnitLookup::Found(u)) => Ok(u.clone()),
            Some(UnitLookup::Ambiguous) => Err(RowError::bad_input(
                Column::HomeUnit,
                "more than one unit has this name; give its id or short name",
            )),
            // The same answer as the single writes' for missing and invisible units.
            _ => Err(RowError::bad_input(Column::HomeUnit, "no such unit")),
        }
    }

    /// The visible members the rows name by number, with their home units and
    /// bank accounts: one statement, and one for the bank accounts if a row has an
    /// IBAN.
    async fn targets(
        &self,
        txn: &WriteTransaction,
        rows: &[ImportRow],
    ) -> Result<HashMap<String, Target>, DomainError> {
        let numbers: BTreeSet<&str> = rows.iter().filter_map(ImportRow::number).collect();
        if numbers.is_empty() {
            return Ok(HashMap::new());
        }
        let found = member::Entity::find()
            .filter(visible_members(self.grants))
            .filter(member::Column::MembershipNumber.is_in(padded(numbers.into_iter().collect())))
            .find_also_related(org_unit::Entity)
            .all(txn)
            .await?;
        let with_bank = rows.iter().any(|r| r.number().is_some() && r.has_iban());
        let mut banks = self.bank_accounts(txn, with_bank, found.iter().map(|(m, _)| m.id).collect()).await?;
        Ok(found
            .into_iter()
            .filter_map(|(member, unit)| {
                let bank = banks.remove(&member.id);
                Some((member.membership_number.clone(), Target { unit: Arc::new(unit?), member, bank }))
            })
            .collect())
    }

    async fn bank_accounts(
        &self,
        txn: &WriteTransaction,
        needed: bool,
        ids: Vec<i64>,
    ) -> Result<HashMap<i64, bank_account::Model>, DbErr> {
        if !needed || ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(bank_account::Entity::find()
            .filter(bank_account::Column::MemberId.is_in(padded(ids)))
            .all(txn)
            .await?
            .into_iter()
            .map(|b| (b.member_id, b))
            .collect())
    }

    /// R12: the caller may compare the stored bank account only if they may read
    /// it; otherwise a row's IBAN always counts as a change (and needs bank.write),
    /// so that `unchanged` never tells them what is stored.
    fn may_read_bank(&self, target: &Target) -> bool {
        member_access(self.grants, target.member.id, &target.unit.path, &[]).bank()
    }

    /// A row with a number: updateMember (and setBankAccount). `Some(true)` if it
    /// changes the member, `Some(false)` if not.
    fn update(
        &self,
        row: &ImportRow,
        target: &mut Target,
        writes: &mut Writes,
    ) -> Result<Option<bool>, Refusal> {
        let grants = self.grants;
        let number = target.member.membership_number.clone();
        if !grants.holds_at(Permission::MemberWrite, &target.unit.path) {
            return Err(RowError::denied(
                Permission::MemberWrite,
                Some(Column::MembershipNumber),
                format!("you do not hold member.write on member {number} (R13)"),
            )
            .into());
        }
        let changes = cells::changes(row, Reading::Update)?;
        let destination = match row.get(Column::HomeUnit).map(str::trim) {
            None => None,
            Some("") => return Err(RowError::bad_input(Column::HomeUnit, "must not be empty").into()),
            Some(r) if self.names(r, &target.unit) => None,
            Some(r) => {
                let unit = self.unit(r)?;
                if unit.id == target.unit.id {
                    None
                } else if !writes::may_update_member(grants, &target.unit.path, Some(&unit.path)) {
                    return Err(RowError::denied(
                        Permission::MemberWrite,
                        Some(Column::HomeUnit),
                        format!("moving a member needs member.write at the destination {} (R13)", unit.name),
                    )
                    .into());
                } else {
                    Some(unit)
                }
            }
        };
        let home = destination.as_ref().unwrap_or(&target.unit).clone();
        let bank = cells::bank_account(row, target.bank.as_ref())?;
        if bank.is_some() && !writes::may_write_bank(grants, &home.path) {
            return Err(RowError::denied(
                Permission::BankWrite,
                Some(Column::Iban),
                format!("bank columns need bank.write at {} (R13)", home.name),
            )
            .into());
        }
        let mut m = apply_changes(&target.member, &changes, self.actor.today)?;
        m.home_unit_id = home.id;
        cells::check_left_on(row, target.member.left_on)?;
        let bank = bank.map(|b| validate_bank_account(&b)).transpose()?;
        let (before, after) = changed(&member_json(&target.member), &member_json(&m));
        let member_changed = after.as_object().is_some_and(|o| !o.is_empty());
        let bank_changed = match (&bank, &target.bank) {
            (None, _) => false,
            (Some((iban, bic, holder)), Some(old)) if self.may_read_bank(target) => {
                (&old.iban, &old.bic, &old.account_holder) != (iban, bic, holder)
            }
            (Some(_), _) => true,
        };
        if !member_changed && !bank_changed {
            return Ok(Some(false));
        }
        writable(&target.unit)?;
        writable(&home)?;
        let now = self.actor.now;
        if member_changed {
            m.updated_by = self.actor.user_id;
            m.updated_at = now;
            if m.status != target.member.status {
                writes.status_changed.push(m.id);
            }
            writes.audits.push(self.actor.audit("member.update", "member", m.id, Some(before), Some(after)));
            writes.updates.insert(m.id, m.clone());
            target.member = m;
        }
        if let Some((iban, bic, account_holder)) = bank.filter(|_| bank_changed) {
            let before = target.bank.as_ref().map(|b| json!({ "iban": validate::mask_iban(&b.iban) }));
            let after = json!({ "iban": validate::mask_iban(&iban) });
            writes.audits.push(self.actor.audit(
                "bank_account.set",
                "member",
                target.member.id,
                before,
                Some(after),
            ));
            let saved = bank_account::Model {
                member_id: target.member.id,
                iban,
                bic,
                account_holder,
                created_at: target.bank.as_ref().map_or(now, |b| b.created_at),
                updated_at: now,
            };
            writes.banks.insert(saved.member_id, saved.clone());
            target.bank = Some(saved);
        }
        target.unit = home;
        Ok(Some(true))
    }

    /// Whether `reference` names `unit` (its id, short name or name), so that a row
    /// keeping a member where it is needs no lookup.
    fn names(&self, reference: &str, unit: &org_unit::Model) -> bool {
        unit.name == reference
            || unit.short_name.as_deref() == Some(reference)
            || (self.unit_id)(reference) == Some(unit.id)
    }

    /// A row without a number, checked as createMember (and setBankAccount) would.
    fn candidate(&self, row: ImportRow) -> Result<Candidate, Refusal> {
        let grants = self.grants;
        let reference = row.unit_reference().ok_or_else(|| {
            RowError::bad_input(
                Column::HomeUnit,
                "required for a new member (a row without membershipNumber)",
            )
        })?;
        let unit = self.unit(reference)?;
        if !writes::may_create_member(grants, &unit.path) {
            return Err(RowError::denied(
                Permission::MemberCreate,
                Some(Column::HomeUnit),
                format!("you do not hold member.create at {} (R13)", unit.name),
            )
            .into());
        }
        let bank = cells::bank_account(&row, None)?;
        if bank.is_some() && !writes::may_write_bank(grants, &unit.path) {
            return Err(RowError::denied(
                Permission::BankWrite,
                Some(Column::Iban),
                format!("bank columns need bank.write at {} (R13)", unit.name),
            )
            .into());
        }
        cells::check_left_on(&row, None)?;
        let input = cells::new_member(&row, unit.id)?;
        let (member, _) = validate_new_member(&input, self.actor)?;
        let bank = bank.map(|b| validate_bank_account(&b)).transpose()?;
        Ok(Candidate { row, unit, member, bank })
    }

    /// The visible members with the identities of `candidates` (first name, last
    /// name, birth date): one statement, and one for their bank accounts if a
    /// candidate has an IBAN. `IN (VALUES …)` joined on the identity index: SQLite
    /// does not use an index for a row-value IN list.
    async fn identity_matches(
        &self,
        txn: &WriteTransaction,
        candidates: &[Candidate],
    ) -> Result<HashMap<Identity, Vec<Target>>, DomainError> {
        let backend = txn.get_database_backend();
        // Each expression numbers its own values (PostgreSQL's `$n`).
        let placeholder = |n: usize| {
            if backend == DatabaseBackend::Postgres { format!("${n}") } else { "?".to_owned() }
        };
        let (mut dated, mut undated) = (Vec::new(), Vec::new());
        let (mut dated_values, mut undated_values): (Vec<Value>, Vec<Value>) = (Vec::new(), Vec::new());
        let identities: BTreeSet<Identity> = candidates.iter().map(|c| identity(&c.member)).collect();
        let dated_identities = padded(identities.iter().filter(|i| i.2.is_some()).collect());
        let undated_identities = padded(identities.iter().filter(|i| i.2.is_none()).collect());
        for (last, first, birth) in dated_identities {
            let n = dated_values.len();
            dated.push(format!("({}, {}, {})", placeholder(n + 1), placeholder(n + 2), placeholder(n + 3)));
            dated_values.extend([Value::from(last.clone()), Value::from(first.clone()), Value::from(*birth)]);
        }
        for (last, first, _) in undated_identities {
            let n = undated_values.len();
            undated.push(format!("({}, {})", placeholder(n + 1), placeholder(n + 2)));
            undated_values.extend([Value::from(last.clone()), Value::from(first.clone())]);
        }
        let mut any = Condition::any();
        if !dated.is_empty() {
            any = any.add(Expr::cust_with_values(
                format!(
                    "member.id IN (SELECT m.id FROM (VALUES {}) v JOIN member m ON m.last_name = v.column1 \
                     AND m.first_name = v.column2 AND m.birth_date = v.column3)",
                    dated.join(", ")
                ),
                dated_values,
            ));
        }
        if !undated.is_empty() {
            any = any.add(Expr::cust_with_values(
                format!(
                    "member.id IN (SELECT m.id FROM (VALUES {}) v JOIN member m ON m.last_name = v.column1 \
                     AND m.first_name = v.column2 AND m.birth_date IS NULL)",
                    undated.join(", ")
                ),
                undated_values,
            ));
        }
        let found = member::Entity::find()
            .filter(visible_members(self.grants))
            .filter(any)
            .find_also_related(org_unit::Entity)
            .all(txn)
            .await?;
        let with_bank = candidates.iter().any(|c| c.bank.is_some());
        let mut banks = self.bank_accounts(txn, with_bank, found.iter().map(|(m, _)| m.id).collect()).await?;
        let mut out: HashMap<Identity, Vec<Target>> = HashMap::new();
        for (member, unit) in found {
            let Some(unit) = unit else { continue };
            let bank = banks.remove(&member.id);
            out.entry(identity(&member)).or_default().push(Target { member, unit: Arc::new(unit), bank });
        }
        Ok(out)
    }

    /// A checked row without a number: created, `unchanged` (it matches a member
    /// the caller can see, or an earlier row of the chunk, and says nothing
    /// different), or DUPLICATE. `true` if created.
    fn create(
        &self,
        c: Candidate,
        matches: &mut HashMap<Identity, Vec<Target>>,
        earlier: &mut HashMap<Identity, (u64, Target)>,
        writes: &mut Writes,
    ) -> Result<bool, Refusal> {
        let key = identity(&c.member);
        if let Some(existing) = matches.get(&key).filter(|v| !v.is_empty()) {
            let mut differing = Vec::new();
            for target in existing {
                let differences = self.differences(&c, target)?;
                if differences.is_empty() {
                    return Ok(false);
                }
                differing.push((target.member.membership_number.clone(), differences));
            }
            let (number, columns) = &differing[0];
            let mut others: Vec<&str> = differing[1..].iter().map(|(n, _)| n.as_str()).take(3).collect();
            others.sort_unstable();
            let also =
                if others.is_empty() { String::new() } else { format!(" (also {})", others.join(", ")) };
            return Err(RowError {
                membership_number: Some(number.clone()),
                ..RowError::new(
                    ErrorCode::Duplicate,
                    Some(Column::MembershipNumber),
                    format!(
                        "matches member {number}{also} by first name, last name and birth date, but differs in {}; \
                         give the membership number to update that member",
                        columns.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                    ),
                )
            }
            .into());
        }
        if let Some((line, target)) = earlier.get(&key) {
            let differences = self.differences(&c, target)?;
            if differences.is_empty() {
                return Ok(false);
            }
            return Err(RowError::new(
                ErrorCode::Duplicate,
                Some(Column::MembershipNumber),
                format!(
                    "repeats line {line} by first name, last name and birth date, but differs in {}",
                    differences.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                ),
            )
            .into());
        }
        writable(&c.unit)?;
        let now = self.actor.now;
        let bank = c.bank.as_ref().map(|(iban, bic, holder)| bank_account::Model {
            member_id: 0,
            iban: iban.clone(),
            bic: bic.clone(),
            account_holder: holder.clone(),
            created_at: now,
            updated_at: now,
        });
        earlier.insert(key, (c.row.line, Target { member: c.member.clone(), unit: c.unit.clone(), bank }));
        writes.creates.push((c.member, c.bank));
        Ok(true)
    }

    /// The columns in which a row without a number says something else about
    /// `target` than is stored: only its non-empty cells count.
    fn differences(&self, c: &Candidate, target: &Target) -> Result<Vec<Column>, Refusal> {
        let changes = cells::changes(&c.row, Reading::Compare)?;
        let mut columns: Vec<Column> = match apply_changes(&target.member, &changes, self.actor.today) {
            Ok(m) => {
                let (_, after) = changed(&member_json(&target.member), &member_json(&m));
                after
                    .as_object()
                    .map(|o| o.keys().filter_map(|k| cells::column_of_key(k)).collect())
                    .unwrap_or_default()
            }
            // A value the member cannot take (e.g. LEFT) is a difference.
            Err(DomainError::BadInput { field, .. }) => cells::column_of(field).into_iter().collect(),
            Err(e) => return Err(e.into()),
        };
        if c.unit.id != target.member.home_unit_id {
            columns.push(Column::HomeUnit);
        }
        if let Some((iban, bic, holder)) = &c.bank {
            // Like the member's columns, only what the row says: an empty BIC or
            // account holder cell is no statement about the stored one.
            let says = |column: Column| c.row.get(column).is_some_and(|v| !v.trim().is_empty());
            let differs: Vec<Column> = match target.bank.as_ref().filter(|_| self.may_read_bank(target)) {
                Some(b) => [
                    (Column::Iban, b.iban != *iban),
                    (Column::Bic, says(Column::Bic) && b.bic != *bic),
                    (Column::AccountHolder, says(Column::AccountHolder) && b.account_holder != *holder),
                ]
                .into_iter()
                .filter_map(|(column, differs)| differs.then_some(column))
                .collect(),
                None => vec![Column::Iban],
            };
            columns.extend(differs);
        }
        Ok(columns)
    }

    /// The chunk's writes, each table in multi-row statements, audit records
    /// included; then the users whose member's status changed.
    async fn write(&mut self, txn: &WriteTransaction, w: Writes) -> Result<(), DomainError> {
        let Writes { creates, updates, mut banks, mut audits, status_changed } = w;
        if !creates.is_empty() {
            let numbers = self.numbers.take(self.db, txn, creates.len()).await?;
            let mut pending = HashMap::with_capacity(creates.len());
            let mut rows = Vec::with_capacity(creates.len());
            for ((m, bank), number) in creates.into_iter().zip(numbers) {
                let m = member::Model { membership_number: number, ..m };
                let mut row = m.clone().into_active_model().reset_all();
                row.id = ActiveValue::NotSet;
                rows.push(row);
                pending.insert(m.membership_number.clone(), (m, bank));
            }
            for part in batches(rows) {
                let mut stmt = member::Entity::insert_many(part).into_query();
                stmt.returning(
                    Query::returning().columns([member::Column::Id, member::Column::MembershipNumber]),
                );
                // Returned in no promised order: matched by number.
                for returned in txn.query_all(&stmt).await? {
                    let id: i64 = returned.try_get("", "id")?;
                    let number: String = returned.try_get("", "membership_number")?;
                    let Some((m, bank)) = pending.remove(&number) else { continue };
                    let created = member::Model { id, ..m };
                    audits.push(self.actor.audit(
                        "member.create",
                        "member",
                        id,
                        None,
                        Some(member_json(&created)),
                    ));
                    if let Some((iban, bic, account_holder)) = bank {
                        audits.push(self.actor.audit(
                            "bank_account.set",
                            "member",
                            id,
                            None,
                            Some(json!({ "iban": validate::mask_iban(&iban) })),
                        ));
                        let now = self.actor.now;
                        banks.insert(
                            id,
                            bank_account::Model {
                                member_id: id,
                                iban,
                                bic,
                                account_holder,
                                created_at: now,
                                updated_at: now,
                            },
                        );
                    }
                }
            }
        }
        if !updates.is_empty() {
            use member::Column as M;
            let columns = [
                M::HomeUnitId,
                M::FirstName,
                M::LastName,
                M::BirthDate,
                M::Gender,
                M::Email,
                M::Phone,
                M::Street,
                M::PostalCode,
                M::City,
                M::Country,
                M::Status,
                M::JoinedOn,
                M::LeftOn,
                M::VotingRights,
                M::Tags,
                M::UpdatedBy,
                M::UpdatedAt,
            ];
            let rows = updates.into_values().map(|m| m.into_active_model().reset_all()).collect();
            upsert::<member::Entity>(txn, rows, OnConflict::column(M::Id).update_columns(columns).to_owned())
                .await?;
        }
        if !banks.is_empty() {
            use bank_account::Column as B;
            let rows = banks.into_values().map(|b| b.into_active_model().reset_all()).collect();
            let on_conflict = OnConflict::column(B::MemberId)
                .update_columns([B::Iban, B::Bic, B::AccountHolder, B::UpdatedAt])
                .to_owned();
            upsert::<bank_account::Entity>(txn, rows, on_conflict).await?;
        }
        if !audits.is_empty() {
            let at = self.actor.now;
            let rows = audits
                .into_iter()
                .map(move |r| audit_event::ActiveModel {
                    at: ActiveValue::Set(at),
                    actor_user_id: ActiveValue::Set(r.actor_user_id),
                    action: ActiveValue::Set(r.action.to_owned()),
                    entity: ActiveValue::Set(r.entity.to_owned()),
                    entity_id: ActiveValue::Set(r.entity_id),
                    before: ActiveValue::Set(r.before),
                    after: ActiveValue::Set(r.after),
                    request_id: ActiveValue::Set(r.request_id),
                    ..Default::default()
                })
                .collect();
            insert::<audit_event::Entity>(txn, rows).await?;
        }
        if !status_changed.is_empty() {
            for u in user::Entity::find()
                .filter(user::Column::MemberId.is_in(padded(status_changed)))
                .all(txn)
                .await?
            {
                // Their rights and sign-in (R6) follow on every instance.
                crate::authz::notify::announce(txn, crate::authz::notify::Change::User(u.id)).await?;
                self.users_changed.insert(u.id);
            }
        }
        Ok(())
    }
}

fn identity(m: &member::Model) -> Identity {
    (m.last_name.clone(), m.first_name.clone(), m.birth_date)
}

/// `rows` in statements of [`BATCH_ROWS`] rows, the rest in powers of two: at most
/// nine statement sizes, whatever the counts.
fn batches<T>(rows: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter();
    std::iter::from_fn(move || {
        let left = rows.len();
        if left == 0 {
            return None;
        }
        let size = if left >= BATCH_ROWS { BATCH_ROWS } else { 1 << left.ilog2() };
        Some(rows.by_ref().take(size).collect())
    })
}

/// `values` with the last one repeated up to the next power of two, for `IN` lists
/// and `VALUES` joins (a repeated value changes nothing there): few statement sizes.
fn padded<T: Clone>(mut values: Vec<T>) -> Vec<T> {
    if let Some(last) = values.last().cloned() {
        values.resize(values.len().next_power_of_two(), last);
    }
    values
}

/// Multi-row INSERTs in [`batches`].
async fn insert<E>(txn: &WriteTransaction, rows: Vec<E::ActiveModel>) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for part in batches(rows) {
        E::insert_many(part).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Multi-row INSERT … ON CONFLICT DO UPDATE in [`batches`]: the batched UPDATE that
/// both backends understand.
async fn upsert<E>(
    txn: &WriteTransaction,
    rows: Vec<E::ActiveModel>,
    on_conflict: OnConflict,
) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for part in batches(rows) {
        E::insert_many(part).on_conflict(on_conflict.clone()).exec_without_returning(txn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_few_sizes() {
        let mut sizes = BTreeSet::new();
        for n in 0..3_000 {
            let parts: Vec<Vec<usize>> = batches((0..n).collect()).collect();
            assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), n);
            assert_eq!(parts.concat(), (0..n).collect::<Vec<_>>(), "in order");
            sizes.extend(parts.iter().map(Vec::len));
            let p = padded((0..n).collect::<Vec<_>>());
            assert!(p.len().is_power_of_two() || n == 0);
            assert!(p.len() < 2 * n.max(1), "at most doubled");
        }
        assert!(sizes.len() <= 9, "{sizes:?}");
        assert_eq!(padded(vec![1, 2, 3]), vec![1, 2, 3, 3]);
    }

    #[test]
    fn rows_index_cells_by_column() {
        for (i, c) in Column::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{}", c.name());
        }
        let mut r = ImportRow::new(3);
        r.set(Column::Iban, " DE44 ");
        r.set(Column::MembershipNumber, "  ");
        assert_eq!(r.get(Column::Iban), Some(" DE44 "));
        assert_eq!(r.get(Column::Bic), None);
        assert!(r.has_iban());
        assert_eq!(r.number(), None, "a blank number is no number");
    }

    #[test]
    fn fingerprints_tell_rows_and_modes_apart() {
        let print = |mode: Mode, rows: &[ReadRow]| {
            let mut f = Fingerprint::new(mode);
            rows.iter().for_each(|r| f.add(r));
            f.finish()
        };
        let mut a = ImportRow::new(2);
        a.set(Column::City, "Kassel");
        let mut b = ImportRow::new(2);
        b.set(Column::City, "Kassel ");
        let mut empty = ImportRow::new(2);
        empty.set(Column::City, "");
        let rows = [Ok(a.clone())];
        assert_eq!(print(Mode::AllOrNothing, &rows), print(Mode::AllOrNothing, &[Ok(a.clone())]));
        assert_ne!(print(Mode::AllOrNothing, &rows), print(Mode::ValidRows, &rows));
        assert_ne!(print(Mode::AllOrNothing, &rows), print(Mode::AllOrNothing, &[Ok(b)]));
        assert_ne!(
            print(Mode::AllOrNothing, &[Ok(empty)]),
            print(Mode::AllOrNothing, &[Ok(ImportRow::new(2))]),
            "an empty cell is not an absent column"
        );
    }

    #[test]
    fn reports_list_a_bounded_number_of_errors_and_count_all() {
        let mut r = Report::default();
        for line in 0..(MAX_LISTED_ERRORS as u64 + 5) {
            r.add_error(RowError::unreadable(line, "x"));
        }
        assert_eq!(r.errors.len(), MAX_LISTED_ERRORS);
        assert_eq!(r.error_count, MAX_LISTED_ERRORS as u64 + 5);
        assert!(r.refused());
        assert!(!Report { mode: Mode::ValidRows, ..r }.refused());
        assert_eq!(Mode::parse("valid_rows"), Some(Mode::ValidRows));
        assert_eq!(Mode::parse("some"), None);
    }

    #[test]
    fn domain_refusals_become_row_errors_in_import_columns() {
        let Refusal::Row(e) = Refusal::from(DomainError::bad_input("address.postalCode", "too long")) else {
            panic!("a row error");
        };
        assert_eq!((e.field.as_deref(), e.code), (Some("postalCode"), ErrorCode::BadUserInput));
        let Refusal::Row(e) = Refusal::from(DomainError::denied(Permission::BankWrite, "no")) else {
            panic!("a row error");
        };
        assert_eq!((e.code, e.permission.as_deref()), (ErrorCode::Forbidden, Some("bank.write")));
        assert!(matches!(Refusal::from(DomainError::Internal("x".into())), Refusal::Fatal(_)));
    }
}
