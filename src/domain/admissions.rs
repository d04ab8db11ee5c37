//! Admissions (Aufnahmeanträge, docs/workflows.md): anyone applies to a unit they
//! can see; admission.approve at the unit approves, and for an applicant of 18 or
//! older admission.approve_adult as well; approval creates the member with the next
//! membership number in the same transaction.
//!
//! Applications hold personal data of people who are not members yet: only callers
//! who decide on them or administer the unit's members (admission.approve,
//! admission.approve_adult or member.write at the unit) see them at all.
use super::members::{
    AddressInput, free_membership_number, insert_member, unit_for_write, unit_locked, writable,
};
use super::{Actor, DomainError, audit, validate};
use crate::authz::{Grants, Permission};
use crate::db::write_transaction;
use chrono::{Datelike, NaiveDate};
use entity::{AdmissionStatus, MemberStatus, OrgUnitStatus, admission, member, org_unit};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::json;

/// From this age on an approval needs admission.approve_adult too.
pub const ADULT_AGE: i32 = 18;

/// Completed years of life on `on`. The birthday itself counts (BGB §187 (2)); a
/// 29 February birthday completes the year on 1 March in common years (§188 (3)),
/// which the month/day comparison gives: (2, 28) < (2, 29).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) { years - 1 } else { years }
}

/// 18 or older on `on`. Applications without a birth date (none can be made through
/// the API) count as adult, so the stricter approval applies.
pub fn is_adult(birth: Option<NaiveDate>, on: NaiveDate) -> bool {
    birth.is_none_or(|b| age_on(b, on) >= ADULT_AGE)
}

/// The permissions that let a caller see an application at a unit.
const SEE: [Permission; 3] =
    [Permission::AdmissionApprove, Permission::AdmissionApproveAdult, Permission::MemberWrite];

/// One application at the unit with `path` exists for the caller.
pub fn may_see(grants: &Grants, path: &str) -> bool {
    SEE.iter().any(|p| grants.holds_at(*p, path))
}

/// The same as `may_see`, as one SQL condition on `admission` for lists and counts.
pub fn visible_condition(grants: &Grants) -> Condition {
    SEE.iter().fold(Condition::any(), |c, p| c.add(grants.unit_condition(*p, admission::Column::OrgUnitId)))
}

/// The caller may approve this application now (pending, and both permissions when
/// the applicant is an adult today).
pub fn may_approve(grants: &Grants, adm: &admission::Model, path: &str, today: NaiveDate) -> bool {
    adm.status == AdmissionStatus::Pending
        && grants.holds_at(Permission::AdmissionApprove, path)
        && (!is_adult(adm.birth_date, today) || grants.holds_at(Permission::AdmissionApproveAdult, path))
}

/// An application and its unit, or None for missing and invisible alike.
pub async fn find_visible<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    id: i64,
) -> Result<Option<(admission::Model, org_unit::Model)>, DomainError> {
    let Some(adm) = admission::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    let Some(unit) = org_unit::Entity::find_by_id(adm.org_unit_id).one(conn).await? else { return Ok(None) };
    Ok(may_see(grants, &unit.path).then_some((adm, unit)))
}

/// New members join only ACTIVE units that have not ended (and never archived ones).
fn takes_members(unit: &org_unit::Model, today: NaiveDate) -> Result<(), DomainError> {
    writable(unit)?;
    if unit.status != OrgUnitStatus::Active || unit.ends_on.is_some_and(|d| d < today) {
        return Err(DomainError::Conflict(format!("{} does not take new members", unit.name)));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Application {
    pub org_unit_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: AddressInput,
}

fn admission_json(a: &admission::Model) -> serde_json::Value {
    json!({
        "org_unit_id": a.org_unit_id, "first_name": a.first_name, "last_name": a.last_name,
        "birth_date": a.birth_date, "status": a.status.as_str(), "reason": a.reason, "member_id": a.member_id,
    })
}

/// applyForMembership: anonymous callers apply to units they can see (PUBLIC, R14),
/// signed-in callers to any unit visible to them; the unit must take new members.
pub async fn apply(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    input: Application,
) -> Result<admission::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let unit = unit_for_write(&txn, actor.grants, input.org_unit_id, "orgUnitId", None).await?;
    takes_members(&unit, actor.today)?;
    let first_name = validate::text("firstName", &input.first_name, 100)?;
    let last_name = validate::text("lastName", &input.last_name, 100)?;
    let birth_date = validate::birth_date("birthDate", input.birth_date, actor.today)?;
    let gender = validate::optional_text("gender", input.gender.as_deref(), 16)?;
    let email = validate::email("email", input.email.as_deref())?;
    let phone = validate::optional_text("phone", input.phone.as_deref(), 64)?;
    let street = validate::optional_text("address.street", input.address.street.as_deref(), 200)?;
    let postal_code =
        validate::optional_text("address.postalCode", input.address.postal_code.as_deref(), 16)?;
    let city = validate::optional_text("address.city", input.address.city.as_deref(), 100)?;
    let country = validate::country("address.country", input.address.country.as_deref())?;

    let row = admission::ActiveModel {
        org_unit_id: Set(unit.id),
        first_name: Set(first_name),
        last_name: Set(last_name),
        birth_date: Set(Some(birth_date)),
        gender: Set(gender),
        email: Set(email),
        phone: Set(phone),
        street: Set(street),
        postal_code: Set(postal_code),
        city: Set(city),
        country: Set(country),
        status: Set(AdmissionStatus::Pending),
        reason: Set(None),
        member_id: Set(None),
        created_by: Set(actor.user_id),
        decided_by: Set(None),
        applied_at: Set(actor.now),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("admission.apply", "admission", row.id, None, Some(admission_json(&row))),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// A visible application the caller may decide on: admission.approve at its unit
/// (read with a share lock inside the write transaction `txn`).
async fn for_decision<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor<'_>,
    id: i64,
) -> Result<(admission::Model, org_unit::Model), DomainError> {
    actor.signed_in()?;
    let (adm, unit) = find_visible(txn, actor.grants, id).await?.ok_or(DomainError::NotFound)?;
    let unit = unit_locked(txn, unit.id).await?.unwrap_or(unit);
    if !actor.grants.holds_at(Permission::AdmissionApprove, &unit.path) {
        return Err(DomainError::denied(
            Permission::AdmissionApprove,
            format!("deciding on an admission needs admission.approve at {}", unit.name),
        ));
    }
    Ok((adm, unit))
}

fn still_pending(adm: &admission::Model) -> Result<(), DomainError> {
    if adm.status != AdmissionStatus::Pending {
        return Err(DomainError::Conflict(format!("the admission is already {}", adm.status.as_str())));
    }
    Ok(())
}

/// Marks the application decided, only if it is still pending: of two concurrent
/// decisions exactly one wins, the other gets CONFLICT (and its transaction rolls
/// back).
async fn decide<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor<'_>,
    id: i64,
    status: AdmissionStatus,
    reason: Option<String>,
) -> Result<(), DomainError> {
    let done = admission::Entity::update_many()
        .col_expr(admission::Column::Status, Expr::value(status.as_str()))
        .col_expr(admission::Column::Reason, Expr::value(reason))
        .col_expr(admission::Column::DecidedBy, Expr::value(actor.user_id))
        .col_expr(admission::Column::DecidedAt, Expr::value(actor.now))
        .filter(admission::Column::Id.eq(id))
        .filter(admission::Column::Status.eq(AdmissionStatus::Pending))
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        return Err(DomainError::Conflict("the admission has already been decided".into()));
    }
    Ok(())
}

/// approveAdmission: admission.approve at the unit, and admission.approve_adult as
/// well when the applicant is 18 or older today. Creates the member (ACTIVE, joined
/// today, the next membership number) and marks the application APPROVED, in one
/// transaction with both audit records.
pub async fn approve(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    id: i64,
) -> Result<(admission::Model, member::Model, Option<super::members::MemberRow>), DomainError> {
    let txn = write_transaction(db).await?;
    let (adm, unit) = for_decision(&txn, actor, id).await?;
    if is_adult(adm.birth_date, actor.today)
        && !actor.grants.holds_at(Permission::AdmissionApproveAdult, &unit.path)
    {
        return Err(DomainError::denied(
            Permission::AdmissionApproveAdult,
            format!(
                "the applicant is {ADULT_AGE} or older: approving needs admission.approve_adult at {} as well",
                unit.name
            ),
        ));
    }
    still_pending(&adm)?;
    takes_members(&unit, actor.today)?;

    // The admission first: a losing concurrent approval stops here, before it
    // takes a membership number.
    decide(&txn, actor, id, AdmissionStatus::Approved, None).await?;
    let number = free_membership_number(&txn).await?;
    let created = insert_member(
        &txn,
        actor,
        member::Model {
            id: 0,
            membership_number: number,
            home_unit_id: unit.id,
            first_name: adm.first_name.clone(),
            last_name: adm.last_name.clone(),
            birth_date: adm.birth_date,
            gender: adm.gender.clone(),
            email: adm.email.clone(),
            phone: adm.phone.clone(),
            street: adm.street.clone(),
            postal_code: adm.postal_code.clone(),
            city: adm.city.clone(),
            country: adm.country.clone(),
            status: MemberStatus::Active,
            joined_on: Some(actor.today),
            left_on: None,
            voting_rights: false,
            tags: json!([]),
            retention_until: None,
            anonymized_at: None,
            created_by: actor.user_id,
            updated_by: actor.user_id,
            created_at: actor.now,
            updated_at: actor.now,
        },
        Some(id),
    )
    .await?;
    admission::Entity::update_many()
        .col_expr(admission::Column::MemberId, Expr::value(created.id))
        .filter(admission::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let decided = admission::Entity::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound)?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "admission.approve",
            "admission",
            id,
            Some(admission_json(&adm)),
            Some(admission_json(&decided)),
        ),
    )
    .await?;
    let visible = super::members::find_visible(&txn, actor.grants, created.id).await?;
    txn.commit().await?;
    Ok((decided, created, visible))
}

/// rejectAdmission: admission.approve at the unit, with a reason.
pub async fn reject(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    id: i64,
    reason: &str,
) -> Result<admission::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let (adm, _) = for_decision(&txn, actor, id).await?;
    let reason = validate::free_text("reason", reason, 1000)?;
    still_pending(&adm)?;
    decide(&txn, actor, id, AdmissionStatus::Rejected, Some(reason)).await?;
    let decided = admission::Entity::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound)?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "admission.reject",
            "admission",
            id,
            Some(admission_json(&adm)),
            Some(admission_json(&decided)),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(decided)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_birthday_itself_completes_the_year() {
        assert_eq!(age_on(d("2008-03-15"), d("2026-03-15")), 18);
        assert_eq!(age_on(d("2008-03-16"), d("2026-03-15")), 17);
        assert_eq!(age_on(d("2008-03-14"), d("2026-03-15")), 18);
        assert!(is_adult(Some(d("2008-03-15")), d("2026-03-15")));
        assert!(!is_adult(Some(d("2008-03-16")), d("2026-03-15")));
        assert!(is_adult(None, d("2026-03-15")), "unknown birth date: the stricter approval");
    }

    #[test]
    fn a_29_february_birthday_completes_the_year_on_1_march_in_common_years() {
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-03-01")), 18);
        // In a leap year on the day itself.
        assert_eq!(age_on(d("2008-02-29"), d("2028-02-28")), 19);
        assert_eq!(age_on(d("2008-02-29"), d("2028-02-29")), 20);
    }
}
