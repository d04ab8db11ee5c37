//! Leaving and retention (docs/workflows.md): ending a membership keeps the record
//! for the tax retention period (end of the tenth calendar year after leaving); after
//! it, anonymizing blanks personal and bank data but keeps the membership's dates and
//! the payments' amounts, so counts and sums stay right.
use super::members::find_for_write;
use super::{Actor, DomainError, audit};
use crate::authz::Permission;
use crate::db::write_transaction;
use chrono::{Datelike, Days, NaiveDate};
use entity::{
    AssignmentStatus, MemberStatus, TransferStatus, admission, assignment, audit_event, bank_account, member,
    payment, sepa_mandate, session, transfer, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::json;

/// End of the tenth calendar year after leaving: the retention of membership and
/// payment records under German tax law (§ 147 AO counts from the end of the
/// calendar year). Leaving on 31 December 2026 or on 1 January 2026 both keep the
/// record until 31 December 2036.
pub fn retention_until(left_on: NaiveDate) -> NaiveDate {
    // Only fails beyond chrono's year range (±262,000), which no leaving date reaches.
    NaiveDate::from_ymd_opt(left_on.year().saturating_add(10), 12, 31).unwrap_or(NaiveDate::MAX)
}

/// How far ahead a leaving date may lie: statutes may require notice of up to two
/// years (§ 39 (2) BGB), so a resignation received today can take effect that late.
pub const MAX_NOTICE_DAYS: u64 = 2 * 366;

/// What replaces the names of an anonymized member (the columns are NOT NULL).
pub const ANONYMIZED_NAME: &str = "Anonymisiert";

/// The non-identifying membership number of an anonymized member; unique like the
/// member's id, so the unique index holds.
pub fn anonymized_number(member_id: i64) -> String {
    format!("ANON-{member_id}")
}

/// What `end_membership` did.
#[derive(Debug, Clone)]
pub struct Ended {
    pub member: member::Model,
    /// The users (logins) of the member: their cached grants are stale now.
    pub user_ids: Vec<i64>,
    /// False when the leaving date lies ahead: the member stays until then and the
    /// lifecycle job sets LEFT on that day.
    pub left_now: bool,
    /// The member as the caller sees it now (see `members::Written`).
    pub visible: Option<super::members::MemberRow>,
}

fn retention_json(m: &member::Model) -> serde_json::Value {
    json!({
        "status": m.status.as_str(), "left_on": m.left_on, "retention_until": m.retention_until,
        "voting_rights": m.voting_rights,
    })
}

/// The ids of the users (logins) of a member.
async fn user_ids_of<C: ConnectionTrait>(conn: &C, member_id: i64) -> Result<Vec<i64>, DomainError> {
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::MemberId.eq(member_id))
        .into_tuple::<i64>()
        .all(conn)
        .await?)
}

/// Revokes the open sessions of `user_ids`: their access tokens stop working at once.
pub(crate) async fn revoke_sessions<C: ConnectionTrait>(
    conn: &C,
    user_ids: &[i64],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DomainError> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    Ok(session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// endMembership: member.write on the member (R13). Records the leaving date and the
/// retention period; ends the member's offices on that day, cancels pending
/// transfers, and, when the day has come, sets LEFT and ends the member's sessions
/// (a left member's user cannot sign in). A leaving date ahead (notice period) keeps
/// the member ACTIVE until then; the lifecycle job sets LEFT on that day.
///
/// Members of ARCHIVED units can leave all the same: leaving is the member's
/// right (§ 39 BGB) and the retention clock must start, read-only unit or not.
pub async fn end_membership(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    left_on: NaiveDate,
) -> Result<Ended, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let row = find_for_write(&txn, actor.grants, member_id).await?.ok_or(DomainError::NotFound)?;
    if !actor.grants.holds_at(Permission::MemberWrite, &row.home_path) {
        return Err(DomainError::denied(
            Permission::MemberWrite,
            "you do not hold member.write on this member (R13)",
        ));
    }
    let before = row.member;
    if before.status == MemberStatus::Left {
        return Err(DomainError::Conflict(match before.left_on {
            Some(day) => format!("the membership already ended on {day}"),
            None => "the membership already ended".into(),
        }));
    }
    if let Some(day) = before.left_on {
        return Err(DomainError::Conflict(format!("leaving is already recorded for {day}")));
    }
    if let Some(joined) = before.joined_on
        && left_on < joined
    {
        return Err(DomainError::bad_input("leftOn", format!("lies before joining on {joined}")));
    }
    let latest = actor.today.checked_add_days(Days::new(MAX_NOTICE_DAYS)).unwrap_or(NaiveDate::MAX);
    if left_on > latest {
        return Err(DomainError::bad_input(
            "leftOn",
            format!("may lie at most two years ahead (until {latest})"),
        ));
    }
    let left_now = left_on <= actor.today;

    // Conditional on the state checked above: of two concurrent calls one wins and
    // the other answers CONFLICT.
    let mut update = member::Entity::update_many()
        .col_expr(member::Column::LeftOn, Expr::value(left_on))
        .col_expr(member::Column::RetentionUntil, Expr::value(retention_until(left_on)))
        .col_expr(member::Column::UpdatedBy, Expr::value(actor.user_id))
        .col_expr(member::Column::UpdatedAt, Expr::value(actor.now));
    if left_now {
        update = update
            .col_expr(member::Column::Status, Expr::value(MemberStatus::Left.as_str()))
            .col_expr(member::Column::VotingRights, Expr::value(false));
    }
    let done = update
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::LeftOn.is_null())
        .filter(member::Column::Status.ne(MemberStatus::Left.as_str()))
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(DomainError::Conflict("the membership was ended meanwhile".into()));
    }
    let updated = member::Entity::find_by_id(member_id).one(&txn).await?.ok_or(DomainError::NotFound)?;

    // Offices end with the membership (inclusive end day, R5); an office that would
    // only start after leaving never begins.
    let ended = assignment::Entity::update_many()
        .col_expr(assignment::Column::EndsOn, Expr::value(left_on))
        .col_expr(assignment::Column::UpdatedAt, Expr::value(actor.now))
        .filter(assignment::Column::MemberId.eq(member_id))
        .filter(assignment::Column::StartsOn.lte(left_on))
        .filter(
            Condition::any()
                .add(assignment::Column::EndsOn.is_null())
                .add(assignment::Column::EndsOn.gt(left_on)),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    let dropped = assignment::Entity::update_many()
        .col_expr(assignment::Column::Status, Expr::value(AssignmentStatus::ToDelete.as_str()))
        .col_expr(assignment::Column::UpdatedAt, Expr::value(actor.now))
        .filter(assignment::Column::MemberId.eq(member_id))
        .filter(assignment::Column::StartsOn.gt(left_on))
        .filter(assignment::Column::Status.ne(AssignmentStatus::ToDelete.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    let cancelled = transfer::Entity::update_many()
        .col_expr(transfer::Column::Status, Expr::value(TransferStatus::Cancelled.as_str()))
        .col_expr(transfer::Column::DecidedBy, Expr::value(actor.user_id))
        .col_expr(transfer::Column::DecidedAt, Expr::value(actor.now))
        .filter(transfer::Column::MemberId.eq(member_id))
        .filter(transfer::Column::Status.eq(TransferStatus::Pending.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    let user_ids = user_ids_of(&txn, member_id).await?;
    let revoked = if left_now { revoke_sessions(&txn, &user_ids, actor.now).await? } else { 0 };
    let mut after = retention_json(&updated);
    if let Some(o) = after.as_object_mut() {
        o.insert("assignments_ended".into(), json!(ended));
        o.insert("assignments_dropped".into(), json!(dropped));
        o.insert("transfers_cancelled".into(), json!(cancelled));
        o.insert("sessions_revoked".into(), json!(revoked));
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit("member.end", "member", member_id, Some(retention_json(&before)), Some(after)),
    )
    .await?;
    crate::authz::notify::announce_users(&txn, &user_ids).await?;
    let visible = super::members::find_visible(&txn, actor.grants, member_id).await?;
    txn.commit().await?;
    Ok(Ended { member: updated, user_ids, left_now, visible })
}

/// What `anonymize_member` did.
#[derive(Debug, Clone)]
pub struct Anonymized {
    pub member: member::Model,
    /// The deleted users (logins) of the member, for cache invalidation.
    pub user_ids: Vec<i64>,
    /// The member as the caller sees it now (see `members::Written`).
    pub visible: Option<super::members::MemberRow>,
}

/// Keys of audit records that hold personal or bank data; blanked in the member's
/// earlier audit records when it is anonymized.
const PERSONAL_AUDIT_KEYS: &[&str] = &[
    "membership_number",
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "tags",
    "iban",
    "bic",
    "account_holder",
    "reference",
    "note",
    "reason",
    "username",
];

fn scrub(value: &mut serde_json::Value) -> bool {
    let mut changed = false;
    if let Some(o) = value.as_object_mut() {
        for key in PERSONAL_AUDIT_KEYS {
            if let Some(v) = o.get_mut(*key)
                && !serde_json::Value::is_null(v)
            {
                *v = serde_json::Value::Null;
                changed = true;
            }
        }
    }
    changed
}

/// Blanks the personal values in the earlier audit records about the member, its
/// logins, its application to join and its transfers; actions, times and actors stay.
async fn scrub_audit_trail<C: ConnectionTrait>(
    conn: &C,
    member_id: i64,
    user_ids: &[i64],
) -> Result<(), DomainError> {
    let admissions: Vec<i64> = admission::Entity::find()
        .select_only()
        .column(admission::Column::Id)
        .filter(admission::Column::MemberId.eq(member_id))
        .into_tuple()
        .all(conn)
        .await?;
    let transfers: Vec<i64> = transfer::Entity::find()
        .select_only()
        .column(transfer::Column::Id)
        .filter(transfer::Column::MemberId.eq(member_id))
        .into_tuple()
        .all(conn)
        .await?;
    let about = |entity: &str, ids: Vec<i64>| {
        Condition::all()
            .add(audit_event::Column::Entity.eq(entity))
            .add(audit_event::Column::EntityId.is_in(ids.into_iter().map(|id| id.to_string())))
    };
    let history = audit_event::Entity::find()
        .filter(
            Condition::any()
                .add(about("member", vec![member_id]))
                .add(about("user", user_ids.to_vec()))
                .add(about("admission", admissions))
                .add(about("transfer", transfers)),
        )
        .filter(
            Condition::any()
                .add(audit_event::Column::Before.is_not_null())
                .add(audit_event::Column::After.is_not_null()),
        )
        .all(conn)
        .await?;
    for event in history {
        let (mut b, mut a) = (event.before.clone(), event.after.clone());
        let changed_b = b.as_mut().is_some_and(scrub);
        let changed_a = a.as_mut().is_some_and(scrub);
        if changed_b || changed_a {
            let mut e = event.into_active_model();
            e.before = Set(b);
            e.after = Set(a);
            e.update(conn).await?;
        }
    }
    Ok(())
}

/// anonymizeMember: member.delete on the member, only for a former member whose
/// retention period is over (CONFLICT naming the date before). Blanks personal data,
/// deletes bank account, mandates and logins, keeps the membership's dates, home
/// unit and the payments' amounts and dates (their notes cleared), and blanks the
/// personal values of the member's earlier audit records: after the retention
/// period nothing may identify the person any more. Allowed in ARCHIVED units too:
/// the duty to erase does not wait for a read-only unit.
pub async fn anonymize_member(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
) -> Result<Anonymized, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let row = find_for_write(&txn, actor.grants, member_id).await?.ok_or(DomainError::NotFound)?;
    if !actor.grants.holds_at(Permission::MemberDelete, &row.home_path) {
        return Err(DomainError::denied(
            Permission::MemberDelete,
            "you do not hold member.delete on this member",
        ));
    }
    let before = row.member;
    if let Some(at) = before.anonymized_at {
        return Err(DomainError::Conflict(format!(
            "the member was already anonymized on {}",
            at.date_naive()
        )));
    }
    if before.status != MemberStatus::Left {
        return Err(DomainError::Conflict(
            "only former members are anonymized, after their retention period: end the membership first"
                .into(),
        ));
    }
    let Some(until) = before.retention_until.or(before.left_on.map(retention_until)) else {
        return Err(DomainError::Conflict(
            "no leaving date on record, so the retention period is unknown: record when the member left"
                .into(),
        ));
    };
    if until >= actor.today {
        return Err(DomainError::Conflict(format!(
            "retained until {until} (tax law): the member can be anonymized from {}",
            until.succ_opt().unwrap_or(until)
        )));
    }

    // Claims the member first, conditionally: a concurrent second call answers
    // CONFLICT instead of anonymizing twice.
    let claimed = member::Entity::update_many()
        .col_expr(member::Column::AnonymizedAt, Expr::value(actor.now))
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::AnonymizedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(DomainError::Conflict("the member was already anonymized".into()));
    }
    let had_bank_account = bank_account::Entity::delete_many()
        .filter(bank_account::Column::MemberId.eq(member_id))
        .exec(&txn)
        .await?;
    let mandates = sepa_mandate::Entity::delete_many()
        .filter(sepa_mandate::Column::MemberId.eq(member_id))
        .exec(&txn)
        .await?;
    // Amounts and dates stay for the sums; a note may name the payer.
    payment::Entity::update_many()
        .col_expr(payment::Column::Note, Expr::value(Option::<String>::None))
        .filter(payment::Column::MemberId.eq(member_id))
        .exec(&txn)
        .await?;
    let payments =
        payment::Entity::find().filter(payment::Column::MemberId.eq(member_id)).count(&txn).await?;
    // The application to join holds the same personal data.
    admission::Entity::update_many()
        .col_expr(admission::Column::FirstName, Expr::value(ANONYMIZED_NAME))
        .col_expr(admission::Column::LastName, Expr::value(ANONYMIZED_NAME))
        .col_expr(admission::Column::BirthDate, Expr::value(Option::<NaiveDate>::None))
        .col_expr(admission::Column::Gender, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::Email, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::Phone, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::Street, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::PostalCode, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::City, Expr::value(Option::<String>::None))
        .col_expr(admission::Column::Reason, Expr::value(Option::<String>::None))
        .filter(admission::Column::MemberId.eq(member_id))
        .exec(&txn)
        .await?;
    // Logins go entirely (sessions, API tokens and system groups cascade).
    let user_ids = user_ids_of(&txn, member_id).await?;
    if !user_ids.is_empty() {
        user::Entity::delete_many()
            .filter(user::Column::Id.is_in(user_ids.iter().copied()))
            .exec(&txn)
            .await?;
    }
    // Transfer reasons are free text about the person.
    transfer::Entity::update_many()
        .col_expr(transfer::Column::Reason, Expr::value(Option::<String>::None))
        .filter(transfer::Column::MemberId.eq(member_id))
        .exec(&txn)
        .await?;
    scrub_audit_trail(&txn, member_id, &user_ids).await?;

    let mut m = before.clone().into_active_model();
    m.membership_number = Set(anonymized_number(member_id));
    m.first_name = Set(ANONYMIZED_NAME.to_owned());
    m.last_name = Set(ANONYMIZED_NAME.to_owned());
    m.birth_date = Set(None);
    m.gender = Set(None);
    m.email = Set(None);
    m.phone = Set(None);
    m.street = Set(None);
    m.postal_code = Set(None);
    m.city = Set(None);
    m.tags = Set(json!([]));
    m.voting_rights = Set(false);
    m.retention_until = Set(Some(until));
    m.anonymized_at = Set(Some(actor.now));
    m.updated_by = Set(actor.user_id);
    m.updated_at = Set(actor.now);
    let updated = m.update(&txn).await?;

    // No personal data in the record of the anonymization itself: only what was
    // removed, counted.
    let before_json =
        json!({ "status": before.status.as_str(), "left_on": before.left_on, "retention_until": until });
    let after_json = json!({
        "anonymized_at": actor.now,
        "bank_account_deleted": had_bank_account.rows_affected > 0,
        "sepa_mandates_deleted": mandates.rows_affected,
        "payments_kept": payments,
        "users_deleted": user_ids.len(),
    });
    audit::record(
        &txn,
        actor.now,
        actor.audit("member.anonymize", "member", member_id, Some(before_json), Some(after_json)),
    )
    .await?;
    crate::authz::notify::announce_users(&txn, &user_ids).await?;
    let visible = super::members::find_visible(&txn, actor.grants, member_id).await?;
    txn.commit().await?;
    Ok(Anonymized { member: updated, user_ids, visible })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn retention_ends_with_the_tenth_calendar_year_after_leaving() {
        assert_eq!(retention_until(d(2026, 3, 15)), d(2036, 12, 31));
        assert_eq!(retention_until(d(2026, 1, 1)), d(2036, 12, 31));
        // The last day of a year still counts to that year.
        assert_eq!(retention_until(d(2026, 12, 31)), d(2036, 12, 31));
        assert_eq!(retention_until(d(2027, 1, 1)), d(2037, 12, 31));
        // 29 February: the tenth year need not be a leap year.
        assert_eq!(retention_until(d(2024, 2, 29)), d(2034, 12, 31));
        assert_eq!(retention_until(d(2014, 6, 30)), d(2024, 12, 31));
        assert_eq!(retention_until(NaiveDate::MAX), NaiveDate::MAX);
    }

    #[test]
    fn anonymized_numbers_identify_nobody_and_stay_unique() {
        assert_eq!(anonymized_number(42), "ANON-42");
        assert_ne!(anonymized_number(42), anonymized_number(43));
    }

    #[test]
    fn scrub_blanks_personal_keys_only() {
        let mut v =
            json!({ "first_name": "Ursula", "status": "ACTIVE", "iban": "DE89****3000", "city": null });
        assert!(scrub(&mut v));
        assert_eq!(v, json!({ "first_name": null, "status": "ACTIVE", "iban": null, "city": null }));
        assert!(!scrub(&mut v));
    }
}
