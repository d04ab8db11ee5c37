//! Statistics for dashboards and the member exports: member counts per period over
//! a subtree (one SQL statement), and the rows of a unit's member export, read in
//! keyset chunks so that an export of any size runs in constant memory. Both apply
//! R11 through `visible_members` inside the statement (R16).
use super::DomainError;
use crate::authz::Grants;
use crate::authz::Permission;
use crate::authz::members::{member_access, visible_members};
use crate::authz::units::can_see_unit;
use chrono::{Datelike, Days, NaiveDate};
use entity::{MemberStatus, bank_account, member, org_unit};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement, Value,
};
use std::collections::HashMap;

/// The granularity of a count series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "DAY" => Some(Self::Day),
            "WEEK" => Some(Self::Week),
            "MONTH" => Some(Self::Month),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Day => "DAY",
            Self::Week => "WEEK",
            Self::Month => "MONTH",
        }
    }
}

/// At most this many days in a series (ten years by day; the calendar of the
/// statement has one row per day whatever the interval).
pub const MAX_DAYS: u64 = 3_700;
/// Longer ranges are fine by week or month (up to a century).
pub const MAX_DAYS_COARSE: u64 = 36_600;

/// Active members of the subtree at the end of one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCount {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub count: i64,
}

/// The periods covering `from..=to`; the first and last are cut at the range.
pub fn periods(from: NaiveDate, to: NaiveDate, interval: Interval) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let natural_end = match interval {
            Interval::Day => Some(start),
            Interval::Week => {
                start.checked_add_days(Days::new(u64::from(6 - start.weekday().num_days_from_monday())))
            }
            Interval::Month => last_of_month(start),
        };
        let end = natural_end.map_or(to, |e| Ord::min(e, to));
        out.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

fn last_of_month(day: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

/// The unit `unit_id` if the caller may see it (R14); missing and invisible alike
/// are NOT_FOUND.
pub async fn visible_unit<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    unit_id: i64,
) -> Result<org_unit::Model, DomainError> {
    match org_unit::Entity::find_by_id(unit_id).one(conn).await? {
        Some(unit) if can_see_unit(grants, &unit) => Ok(unit),
        _ => Err(DomainError::NotFound),
    }
}

/// Checks a range; `from_field`/`to_field` name the arguments in errors.
pub fn check_range(
    from: NaiveDate,
    to: NaiveDate,
    interval: Interval,
    to_field: &'static str,
) -> Result<(), DomainError> {
    if to < from {
        return Err(DomainError::bad_input(to_field, "must not lie before from"));
    }
    let days = u64::try_from((to - from).num_days()).unwrap_or(u64::MAX).saturating_add(1);
    let max = if interval == Interval::Day { MAX_DAYS } else { MAX_DAYS_COARSE };
    if days > max {
        return Err(DomainError::bad_input(
            to_field,
            format!("the range may span at most {max} days by {}", interval.as_str()),
        ));
    }
    Ok(())
}

/// SQL text with parameters for one backend; placeholders are appended in text
/// order, so `?` (SQLite) and `$n` (PostgreSQL) both line up with `values`.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
}

/// The day after a date expression.
fn next_day(backend: DatabaseBackend, expr: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("({expr} + 1)"),
        _ => format!("date({expr}, '+1 day')"),
    }
}

/// Members counted by a series: visible to the caller (R11/R15/R17), at home in
/// the subtree, with a join date; a leave date before the join date never counts.
fn counted_members(grants: &Grants, path: &str) -> SelectStatement {
    let subtree = Query::select()
        .column(org_unit::Column::Id)
        .from(org_unit::Entity)
        .cond_where(org_unit::in_subtree(path))
        .take();
    Query::select()
        .column((member::Entity, member::Column::JoinedOn))
        .column((member::Entity, member::Column::LeftOn))
        .from(member::Entity)
        .cond_where(
            Condition::all()
                .add(visible_members(grants))
                .add(member::Column::HomeUnitId.in_subquery(subtree))
                .add(member::Column::JoinedOn.is_not_null())
                .add(
                    Condition::any().add(member::Column::LeftOn.is_null()).add(
                        Expr::col((member::Entity, member::Column::LeftOn))
                            .gte(Expr::col((member::Entity, member::Column::JoinedOn))),
                    ),
                ),
        )
        .take()
}

/// Active members of the subtree of `unit` at the end of every period of
/// `from..=to`, counting only members the caller may see (R11). One statement: the
/// joins and leaves of the counted members are aggregated per day (a leave takes
/// effect the day after `left_on`; joins before `from` count on `from`), summed
/// up over a calendar with a window function, and read at each period's end — never
/// a calendar joined against every member.
pub async fn member_counts<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    unit: &org_unit::Model,
    from: NaiveDate,
    to: NaiveDate,
    interval: Interval,
) -> Result<Vec<MemberCount>, DomainError> {
    let backend = conn.get_database_backend();
    if !matches!(backend, DatabaseBackend::Postgres | DatabaseBackend::Sqlite) {
        return Err(DomainError::Internal("member counts need PostgreSQL or SQLite".into()));
    }
    let counted = backend.build(&counted_members(grants, &unit.path));
    let mut sql = Sql {
        backend,
        text: String::with_capacity(2_000),
        values: counted.values.map(|v| v.0).unwrap_or_default(),
    };
    sql.push("WITH RECURSIVE vis AS (");
    sql.push(&counted.sql);
    // Only members active somewhere in the range take part.
    // Bound in text order: SQLite's `?` are numbered by position.
    let t = sql.bind(to);
    let f = sql.bind(from);
    sql.push(&format!(
        "), rel AS (SELECT joined_on, left_on FROM vis WHERE joined_on <= {t} AND (left_on IS NULL OR left_on >= {f}))"
    ));
    let (f1, f2) = (sql.bind(from), sql.bind(from));
    let t1 = sql.bind(to);
    sql.push(&format!(
        ", ev AS (SELECT CASE WHEN joined_on < {f1} THEN {f2} ELSE joined_on END AS d, COUNT(*) AS delta \
         FROM rel GROUP BY 1 \
         UNION ALL SELECT {left_next} AS d, -COUNT(*) AS delta FROM rel WHERE left_on < {t1} GROUP BY 1)",
        left_next = next_day(backend, "left_on"),
    ));
    sql.push(", daily AS (SELECT d, SUM(delta) AS delta FROM ev GROUP BY d)");
    let (start, end) = (sql.bind(from), sql.bind(to));
    let anchor = match backend {
        DatabaseBackend::Postgres => format!("CAST({start} AS DATE)"),
        _ => start,
    };
    sql.push(&format!(
        ", cal(d) AS (SELECT {anchor} UNION ALL SELECT {next} FROM cal WHERE d < {end})",
        next = next_day(backend, "d"),
    ));
    sql.push(
        ", run AS (SELECT cal.d AS d, SUM(COALESCE(daily.delta, 0)) OVER (ORDER BY cal.d ROWS UNBOUNDED PRECEDING) \
         AS n FROM cal LEFT JOIN daily ON daily.d = cal.d)",
    );
    let period_end = match (interval, backend) {
        (Interval::Day, _) => None,
        (Interval::Week, DatabaseBackend::Postgres) => Some("EXTRACT(ISODOW FROM d) = 7".to_owned()),
        (Interval::Week, _) => Some("strftime('%w', d) = '0'".to_owned()),
        (Interval::Month, DatabaseBackend::Postgres) => Some("EXTRACT(DAY FROM d + 1) = 1".to_owned()),
        (Interval::Month, _) => Some("strftime('%d', d, '+1 day') = '01'".to_owned()),
    };
    sql.push(" SELECT d AS day, CAST(n AS BIGINT) AS n FROM run");
    if let Some(cond) = period_end {
        let last = sql.bind(to);
        sql.push(&format!(" WHERE {cond} OR d = {last}"));
    }
    sql.push(" ORDER BY d");
    let stmt = Statement::from_sql_and_values(backend, sql.text, sql.values);
    let mut at_end: HashMap<NaiveDate, i64> = HashMap::new();
    for row in conn.query_all_raw(stmt).await? {
        let day: NaiveDate = row.try_get("", "day")?;
        let n: i64 = row.try_get("", "n")?;
        at_end.insert(day, n);
    }
    periods(from, to, interval)
        .into_iter()
        .map(|(period_start, period_end)| match at_end.get(&period_end) {
            Some(&count) => Ok(MemberCount { period_start, period_end, count }),
            None => Err(DomainError::Internal(format!("no count for the period ending {period_end}"))),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Member exports

/// A column of the member export, by the name callers use in `columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    MembershipNumber,
    FirstName,
    LastName,
    Email,
    Phone,
    Street,
    PostalCode,
    City,
    Country,
    BirthDate,
    Status,
    JoinedOn,
    LeftOn,
    VotingRights,
    HomeUnit,
    Iban,
    Bic,
    AccountHolder,
}

impl Column {
    pub const ALL: &'static [Column] = &[
        Column::MembershipNumber,
        Column::FirstName,
        Column::LastName,
        Column::Email,
        Column::Phone,
        Column::Street,
        Column::PostalCode,
        Column::City,
        Column::Country,
        Column::BirthDate,
        Column::Status,
        Column::JoinedOn,
        Column::LeftOn,
        Column::VotingRights,
        Column::HomeUnit,
        Column::Iban,
        Column::Bic,
        Column::AccountHolder,
    ];

    /// Everything but bank data: bank columns are exported only when asked for.
    pub const DEFAULT: &'static [Column] = &[
        Column::MembershipNumber,
        Column::LastName,
        Column::FirstName,
        Column::Email,
        Column::Phone,
        Column::Street,
        Column::PostalCode,
        Column::City,
        Column::Country,
        Column::BirthDate,
        Column::Status,
        Column::JoinedOn,
        Column::LeftOn,
        Column::VotingRights,
        Column::HomeUnit,
    ];

    /// The accreditation list: who may vote.
    pub const ACCREDITATION: &'static [Column] =
        &[Column::MembershipNumber, Column::LastName, Column::FirstName, Column::HomeUnit];

    pub const fn name(self) -> &'static str {
        match self {
            Column::MembershipNumber => "membershipNumber",
            Column::FirstName => "firstName",
            Column::LastName => "lastName",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::Street => "street",
            Column::PostalCode => "postalCode",
            Column::City => "city",
            Column::Country => "country",
            Column::BirthDate => "birthDate",
            Column::Status => "status",
            Column::JoinedOn => "joinedOn",
            Column::LeftOn => "leftOn",
            Column::VotingRights => "votingRights",
            Column::HomeUnit => "homeUnit",
            Column::Iban => "iban",
            Column::Bic => "bic",
            Column::AccountHolder => "accountHolder",
        }
    }

    pub fn parse(name: &str) -> Option<Column> {
        Column::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// R12: the permission a column needs beyond member.read.
    pub const fn needs(self) -> Option<Permission> {
        match self {
            Column::Iban | Column::Bic | Column::AccountHolder => Some(Permission::BankRead),
            _ => None,
        }
    }
}

/// What a unit export contains.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    pub unit_id: i64,
    pub unit_path: String,
    pub include_descendants: bool,
    /// The accreditation list: members with voting rights who are members on that
    /// day (joined, not left, not applicants).
    pub voting_on: Option<NaiveDate>,
}

/// The columns the caller may export of `unit`'s members, and those left out. A
/// column needing a permission is exported only if the permission holds for every
/// row the export can contain: at the unit, and for an export with descendants
/// throughout the subtree below it.
pub fn allowed_columns(grants: &Grants, spec: &ExportSpec, wanted: &[Column]) -> (Vec<Column>, Vec<Column>) {
    let holds = |p: Permission| {
        grants.holds_at(p, &spec.unit_path)
            && (!spec.include_descendants
                || grants.missing_throughout_below(crate::authz::PermSet::of(p), &spec.unit_path).is_empty())
    };
    wanted.iter().copied().partition(|c| c.needs().is_none_or(holds))
}

/// The rows of a unit export: visible to the caller (R11/R15/R17) *and* at home in
/// the unit (or its subtree). Rows visible only through R17 or R15 elsewhere are
/// not part of a unit export.
fn export_condition(grants: &Grants, spec: &ExportSpec) -> Condition {
    let mut cond = Condition::all().add(visible_members(grants));
    cond = if spec.include_descendants {
        cond.add(org_unit::in_subtree(&spec.unit_path))
    } else {
        cond.add(member::Column::HomeUnitId.eq(spec.unit_id))
    };
    if let Some(day) = spec.voting_on {
        cond = cond
            .add(member::Column::VotingRights.eq(true))
            .add(member::Column::JoinedOn.lte(day))
            .add(Condition::any().add(member::Column::LeftOn.is_null()).add(member::Column::LeftOn.gte(day)))
            .add(member::Column::Status.ne(MemberStatus::Applicant));
    }
    cond
}

/// The number of rows an export holds right now (for its audit record).
pub async fn export_row_count<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    spec: &ExportSpec,
) -> Result<u64, DomainError> {
    use sea_orm::PaginatorTrait;
    Ok(member::Entity::find()
        .inner_join(org_unit::Entity)
        .filter(export_condition(grants, spec))
        .count(conn)
        .await?)
}

/// One exported member with what the caller may read of its bank data.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub member: member::Model,
    pub home_unit_name: String,
    /// Only when bank columns were asked for and the caller holds bank.read on
    /// this member (checked per row as well, whatever the column decision said).
    pub bank: Option<ExportBank>,
}

/// The bank columns of one exported member.
#[derive(Debug, Clone)]
pub struct ExportBank {
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
}

/// The next chunk of an export, after member id `after` in id order (keyset): one
/// statement for the members with their home units and, when `with_bank`, their
/// bank accounts (a left join on the primary key: an IN list of 2,000 ids cost
/// ~50 ms a chunk, and a second statement with the export's condition got a
/// generic plan on PostgreSQL that scanned the whole member table).
pub async fn export_chunk<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    spec: &ExportSpec,
    after: i64,
    limit: u64,
    with_bank: bool,
) -> Result<Vec<ExportRow>, DomainError> {
    let mut stmt = member::Entity::find()
        .find_also_related(org_unit::Entity)
        .filter(export_condition(grants, spec))
        .filter(member::Column::Id.gt(after))
        .order_by_asc(member::Column::Id)
        .limit(limit)
        .into_query();
    if with_bank {
        stmt.join(
            JoinType::LeftJoin,
            bank_account::Entity,
            // The bound lets a merge join start at the chunk instead of scanning
            // bank_account from its first row (~110 ms a chunk on 1,000,000 rows).
            Expr::col((bank_account::Entity, bank_account::Column::MemberId))
                .equals((member::Entity, member::Column::Id))
                .and(Expr::col((bank_account::Entity, bank_account::Column::MemberId)).gt(after)),
        );
        for (column, alias) in BANK_ALIASES {
            stmt.expr_as(Expr::col((bank_account::Entity, column)), alias);
        }
    }
    let mut out = Vec::new();
    for row in conn.query_all(&stmt).await? {
        let member = member::Model::from_query_result(&row, "A_")?;
        let Some(unit) = org_unit::Model::from_query_result_optional(&row, "B_")? else { continue };
        // Per row as well, whatever the column decision said, by the row check of
        // the API (R12, R17). Pending transfers are not consulted: a row readable
        // only through one (R15) gets no bank data here.
        let may_read_bank = with_bank && member_access(grants, member.id, &unit.path, &[]).bank();
        let bank = if may_read_bank {
            let iban: Option<String> = row.try_get("", BANK_ALIASES[0].1)?;
            let bic: Option<String> = row.try_get("", BANK_ALIASES[1].1)?;
            let holder: Option<String> = row.try_get("", BANK_ALIASES[2].1)?;
            iban.map(|iban| ExportBank { iban, bic, account_holder: holder.unwrap_or_default() })
        } else {
            None
        };
        out.push(ExportRow { member, home_unit_name: unit.name, bank });
    }
    Ok(out)
}

const BANK_ALIASES: [(bank_account::Column, &str); 3] = [
    (bank_account::Column::Iban, "C_iban"),
    (bank_account::Column::Bic, "C_bic"),
    (bank_account::Column::AccountHolder, "C_account_holder"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn periods_cover_the_range_and_are_cut_at_its_ends() {
        assert_eq!(periods(d(2026, 1, 1), d(2026, 1, 3), Interval::Day).len(), 3);
        // 2026-01-01 is a Thursday.
        let weeks = periods(d(2026, 1, 1), d(2026, 1, 20), Interval::Week);
        assert_eq!(weeks[0], (d(2026, 1, 1), d(2026, 1, 4)));
        assert_eq!(weeks[1], (d(2026, 1, 5), d(2026, 1, 11)));
        assert_eq!(weeks.last().copied(), Some((d(2026, 1, 19), d(2026, 1, 20))));
        let months = periods(d(2025, 12, 15), d(2026, 3, 10), Interval::Month);
        assert_eq!(
            months,
            vec![
                (d(2025, 12, 15), d(2025, 12, 31)),
                (d(2026, 1, 1), d(2026, 1, 31)),
                (d(2026, 2, 1), d(2026, 2, 28)),
                (d(2026, 3, 1), d(2026, 3, 10)),
            ]
        );
    }

    #[test]
    fn ranges_are_limited() {
        assert!(check_range(d(2026, 1, 2), d(2026, 1, 1), Interval::Day, "to").is_err());
        assert!(check_range(d(2016, 1, 1), d(2026, 1, 1), Interval::Day, "to").is_ok());
        assert!(check_range(d(2006, 1, 1), d(2026, 1, 1), Interval::Day, "to").is_err());
        assert!(check_range(d(2006, 1, 1), d(2026, 1, 1), Interval::Month, "to").is_ok());
    }
}
