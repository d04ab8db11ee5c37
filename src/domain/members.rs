//! Members under the rules: reading them (R11, R15, R17 in the statement itself) and
//! changing them (R13, R17), each change with its audit record in one transaction.
use super::seed::allocate_membership_numbers;
use super::{Actor, DomainError, audit, validate};
use crate::authz::Below;
use crate::authz::Grants;
use crate::authz::Permission;
use crate::authz::members::{MemberAccess, member_access, visible_members, visible_members_by, writes};
use crate::authz::notify;
use crate::authz::units::can_see_unit;
use crate::db::{failure, write_transaction};
use chrono::NaiveDate;
use entity::{
    MandateStatus, MemberStatus, OrgUnitStatus, TransferStatus, bank_account, member, org_unit, payment,
    sepa_mandate, transfer, user,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    JoinType, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait, RelationTrait, Select, Set,
};
use serde_json::json;
use std::collections::HashMap;

/// A member the caller may see, with its home unit's path and the caller's access.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub member: member::Model,
    pub home_path: String,
    pub access: MemberAccess,
}

/// The members of `select` that the caller may see, with their access: one
/// statement (members joined with their home units, filtered by R11/R15/R17), plus
/// one for pending transfers when the caller could read through one (R15). For
/// lookups by key (ids, a membership number): the scope is checked on the joined
/// home unit's path, O(depth) per row, instead of building the set of units in
/// scope as a list does.
pub async fn visible_rows<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    select: Select<member::Entity>,
) -> Result<Vec<MemberRow>, DbErr> {
    rows_with_access(conn, grants, select.filter(visible_members_by(grants, Below::JoinedUnitPath))).await
}

/// Every member the caller may see (R11, R15, R17): the base of lists, counts,
/// searches and exports, which add their filters to it (R16).
pub fn visible_select(grants: &Grants) -> Select<member::Entity> {
    member::Entity::find().filter(visible_members(grants))
}

/// The rows of a select built on `visible_select`, with the caller's access.
pub async fn rows_with_access<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    select: Select<member::Entity>,
) -> Result<Vec<MemberRow>, DbErr> {
    // The member's columns, then the home unit's path: rows are read by position
    // (`member_at`), without aliases or name lookups per column and row.
    let select = select
        .column_as(Expr::col((org_unit::Entity, org_unit::Column::Path)), HOME_PATH)
        .join(JoinType::InnerJoin, member::Relation::HomeUnit.def());
    let rows = conn
        .query_all_raw(select.build(conn.get_database_backend()))
        .await?
        .iter()
        .map(|row| Ok((member_at(row)?, row.try_get_by_index::<String>(MEMBER_COLUMNS)?)))
        .collect::<Result<Vec<_>, DbErr>>()?;
    let pending = if grants.holds_anywhere(Permission::MemberWrite) && !rows.is_empty() {
        pending_destinations(conn, rows.iter().map(|(m, _)| m.id)).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .filter_map(|(member, home_path)| {
            let to: Vec<&str> =
                pending.get(&member.id).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
            let access = member_access(grants, member.id, &home_path, &to);
            // The SQL condition and the row check agree (R16); a row the check
            // refuses is dropped all the same.
            access.visible().then_some(MemberRow { member, home_path, access })
        })
        .collect())
}

/// The alias of the home unit's path in member rows.
const HOME_PATH: &str = "home_path";

/// A member's columns come first in a row of `rows_with_access`, in the entity's
/// order; the home unit's path follows them.
const MEMBER_COLUMNS: usize = 24;

/// The member in the first `MEMBER_COLUMNS` columns of `row`, read by position: a
/// page of members is read without looking up column names per row and field.
fn member_at(row: &sea_orm::QueryResult) -> Result<member::Model, DbErr> {
    Ok(member::Model {
        id: row.try_get_by_index(0)?,
        membership_number: row.try_get_by_index(1)?,
        home_unit_id: row.try_get_by_index(2)?,
        first_name: row.try_get_by_index(3)?,
        last_name: row.try_get_by_index(4)?,
        birth_date: row.try_get_by_index(5)?,
        gender: row.try_get_by_index(6)?,
        email: row.try_get_by_index(7)?,
        phone: row.try_get_by_index(8)?,
        street: row.try_get_by_index(9)?,
        postal_code: row.try_get_by_index(10)?,
        city: row.try_get_by_index(11)?,
        country: row.try_get_by_index(12)?,
        status: row.try_get_by_index(13)?,
        joined_on: row.try_get_by_index(14)?,
        left_on: row.try_get_by_index(15)?,
        voting_rights: row.try_get_by_index(16)?,
        tags: row.try_get_by_index(17)?,
        retention_until: row.try_get_by_index(18)?,
        anonymized_at: row.try_get_by_index(19)?,
        created_by: row.try_get_by_index(20)?,
        updated_by: row.try_get_by_index(21)?,
        created_at: row.try_get_by_index(22)?,
        updated_at: row.try_get_by_index(23)?,
    })
}

/// Paths of the destinations of pending transfers, per member.
pub async fn pending_destinations<C: ConnectionTrait>(
    conn: &C,
    member_ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Vec<String>>, DbErr> {
    let stmt = Query::select()
        .column((transfer::Entity, transfer::Column::MemberId))
        .column((org_unit::Entity, org_unit::Column::Path))
        .from(transfer::Entity)
        .inner_join(
            org_unit::Entity,
            Expr::col((org_unit::Entity, org_unit::Column::Id))
                .equals((transfer::Entity, transfer::Column::ToUnitId)),
        )
        .and_where(
            Expr::col((transfer::Entity, transfer::Column::Status)).eq(TransferStatus::Pending.as_str()),
        )
        .and_where(Expr::col((transfer::Entity, transfer::Column::MemberId)).is_in(member_ids))
        .take();
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for row in conn.query_all(&stmt).await? {
        let member_id: i64 = row.try_get("", "member_id")?;
        let path: String = row.try_get("", "path")?;
        out.entry(member_id).or_default().push(path);
    }
    Ok(out)
}

/// One member the caller may see, or None (missing and invisible alike, R11).
pub async fn find_visible<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    id: i64,
) -> Result<Option<MemberRow>, DbErr> {
    Ok(visible_rows(conn, grants, member::Entity::find().filter(member::Column::Id.eq(id))).await?.pop())
}

/// `find_visible` inside a write transaction, with the member's row locked until it
/// ends (PostgreSQL `FOR UPDATE`; on SQLite the transaction holds the write lock
/// already): what the change checks cannot change before it commits, and
/// concurrent changes of one member take turns instead of overwriting each other.
pub async fn find_for_write<C: ConnectionTrait>(
    txn: &C,
    grants: &Grants,
    id: i64,
) -> Result<Option<MemberRow>, DbErr> {
    if member::Entity::find_by_id(id).lock_exclusive().one(txn).await?.is_none() {
        return Ok(None);
    }
    find_visible(txn, grants, id).await
}

/// A unit a change depends on (its home unit, a parent, a destination), read with a
/// share lock: archiving it waits until the change commits, or the change sees it
/// archived.
pub async fn unit_locked<C: ConnectionTrait>(txn: &C, id: i64) -> Result<Option<org_unit::Model>, DbErr> {
    org_unit::Entity::find_by_id(id).lock_shared().one(txn).await
}

// ---------------------------------------------------------------------------
// Writes (R13, R17)

/// `None`: leave as is; `Some(None)`: clear; `Some(Some(v))`: set.
pub type Patch<T> = Option<Option<T>>;

#[derive(Debug, Clone, Default)]
pub struct AddressInput {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewMember {
    pub home_unit_id: i64,
    /// Assigned from the counter when absent.
    pub membership_number: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: AddressInput,
    pub status: Option<MemberStatus>,
    pub joined_on: Option<NaiveDate>,
    pub voting_rights: bool,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MemberChanges {
    pub home_unit_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Patch<NaiveDate>,
    pub gender: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub street: Patch<String>,
    pub postal_code: Patch<String>,
    pub city: Patch<String>,
    pub country: Patch<String>,
    pub status: Option<MemberStatus>,
    pub joined_on: Patch<NaiveDate>,
    pub voting_rights: Option<bool>,
    pub tags: Option<Vec<String>>,
}

impl MemberChanges {
    /// Only what R17 lets members change themselves: email, phone and address.
    fn is_contact_only(&self) -> bool {
        self.home_unit_id.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.birth_date.is_none()
            && self.gender.is_none()
            && self.status.is_none()
            && self.joined_on.is_none()
            && self.voting_rights.is_none()
            && self.tags.is_none()
    }
}

/// A unit a write refers to. It exists for the caller if they see it (R14) or hold
/// `needs` there, the permission R13 asks of the write: visibility never refuses a
/// write that R13 allows. Otherwise missing and invisible are the same "no such
/// unit", so a refused write reveals nothing about units the caller cannot see.
/// Read with a share lock (`unit_locked`) when `conn` is the write transaction.
pub async fn unit_for_write<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    unit_id: i64,
    field: &'static str,
    needs: Option<Permission>,
) -> Result<org_unit::Model, DomainError> {
    match unit_locked(conn, unit_id).await? {
        Some(unit)
            if can_see_unit(grants, &unit) || needs.is_some_and(|p| grants.holds_at(p, &unit.path)) =>
        {
            Ok(unit)
        }
        _ => Err(DomainError::bad_input(field, "no such unit")),
    }
}

/// ARCHIVED units are read-only (R14).
pub fn writable(unit: &org_unit::Model) -> Result<(), DomainError> {
    if unit.status == OrgUnitStatus::Archived {
        return Err(DomainError::Conflict(format!("{} is archived and read-only", unit.name)));
    }
    Ok(())
}

/// An anonymized record is read-only: nothing may identify the person again.
pub fn not_anonymized(m: &member::Model) -> Result<(), DomainError> {
    if m.anonymized_at.is_some() {
        return Err(DomainError::Conflict("the member was anonymized: the record is read-only".into()));
    }
    Ok(())
}

/// A membership number from the counter that no member holds yet: numbers given by
/// hand may lie ahead of the counter.
pub(crate) async fn free_membership_number<C: ConnectionTrait>(txn: &C) -> Result<String, DomainError> {
    for _ in 0..100 {
        let n = allocate_membership_numbers(txn, 1).await?.to_string();
        if member::Entity::find().filter(member::Column::MembershipNumber.eq(&n)).count(txn).await? == 0 {
            return Ok(n);
        }
    }
    Err(DomainError::Internal("no free membership number after 100 tries".into()))
}

fn tags(field: &'static str, tags: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = validate::text(field, t, 64)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 50 {
        return Err(DomainError::bad_input(field, "at most 50 tags"));
    }
    Ok(out)
}

fn gender(value: Option<&str>) -> Result<Option<String>, DomainError> {
    validate::optional_text("gender", value, 16)
}

pub(crate) fn member_json(m: &member::Model) -> serde_json::Value {
    json!({
        "membership_number": m.membership_number, "home_unit_id": m.home_unit_id,
        "first_name": m.first_name, "last_name": m.last_name, "birth_date": m.birth_date,
        "gender": m.gender, "email": m.email, "phone": m.phone, "street": m.street,
        "postal_code": m.postal_code, "city": m.city, "country": m.country,
        "status": m.status.as_str(), "joined_on": m.joined_on, "left_on": m.left_on,
        "voting_rights": m.voting_rights, "tags": m.tags,
    })
}

/// Only the keys whose values differ: the audit record of an update.
pub(crate) fn changed(
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    let (mut b, mut a) = (serde_json::Map::new(), serde_json::Map::new());
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (k, v) in after {
            if before.get(k) != Some(v) {
                b.insert(k.clone(), before.get(k).cloned().unwrap_or(serde_json::Value::Null));
                a.insert(k.clone(), v.clone());
            }
        }
    }
    (serde_json::Value::Object(b), serde_json::Value::Object(a))
}

/// A member as a write left it, and as the caller may see it now: read inside the
/// write's transaction, so that answering needs no statement after the commit (a
/// committed write is never answered with an error because the database went away
/// just after).
pub struct Written {
    pub member: member::Model,
    pub visible: Option<MemberRow>,
}

/// createMember: member.create at the home unit (R13); the membership number comes
/// from the counter unless given (and then must be unique).
pub async fn create_member(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    input: NewMember,
) -> Result<Written, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let unit =
        unit_for_write(&txn, actor.grants, input.home_unit_id, "homeUnitId", Some(Permission::MemberCreate))
            .await?;
    if !writes::may_create_member(actor.grants, &unit.path) {
        return Err(DomainError::denied(
            Permission::MemberCreate,
            format!("you do not hold member.create at {} (R13)", unit.name),
        ));
    }
    writable(&unit)?;
    let (row, number) = validate_new_member(&input, actor)?;
    let number = match number {
        Some(n) => {
            let taken =
                member::Entity::find().filter(member::Column::MembershipNumber.eq(&n)).count(&txn).await?;
            if taken > 0 {
                return Err(DomainError::taken(&failure::MEMBERSHIP_NUMBER));
            }
            n
        }
        None => free_membership_number(&txn).await?,
    };
    let row = insert_member(
        &txn,
        actor,
        member::Model { membership_number: number, home_unit_id: unit.id, ..row },
        None,
    )
    .await?;
    let visible = find_visible(&txn, actor.grants, row.id).await?;
    txn.commit().await?;
    Ok(Written { member: row, visible })
}

/// The checks of createMember on its input, without the database: the member as it
/// would be inserted (`id` 0, no membership number yet, `home_unit_id` as given),
/// and the membership number asked for, if any. Imports check their rows with it.
pub(crate) fn validate_new_member(
    input: &NewMember,
    actor: &Actor<'_>,
) -> Result<(member::Model, Option<String>), DomainError> {
    let first_name = validate::text("firstName", &input.first_name, 100)?;
    let last_name = validate::text("lastName", &input.last_name, 100)?;
    let birth_date =
        input.birth_date.map(|d| validate::birth_date("birthDate", d, actor.today)).transpose()?;
    let joined_on = match input.joined_on {
        Some(d) => validate::joined_on("joinedOn", d, birth_date, actor.today)?,
        None => actor.today,
    };
    let email = validate::email("email", input.email.as_deref())?;
    let phone = validate::optional_text("phone", input.phone.as_deref(), 64)?;
    let street = validate::optional_text("address.street", input.address.street.as_deref(), 200)?;
    let postal_code =
        validate::optional_text("address.postalCode", input.address.postal_code.as_deref(), 16)?;
    let city = validate::optional_text("address.city", input.address.city.as_deref(), 100)?;
    let country = validate::country("address.country", input.address.country.as_deref())?;
    let gender = gender(input.gender.as_deref())?;
    let tags = tags("tags", &input.tags)?;
    let status = input.status.unwrap_or(MemberStatus::Active);
    if status == MemberStatus::Left {
        return Err(DomainError::bad_input("status", "a new member cannot have left"));
    }
    let number =
        input.membership_number.as_deref().map(|n| validate::text("membershipNumber", n, 32)).transpose()?;
    let row = member::Model {
        id: 0,
        membership_number: String::new(),
        home_unit_id: input.home_unit_id,
        first_name,
        last_name,
        birth_date,
        gender,
        email,
        phone,
        street,
        postal_code,
        city,
        country,
        status,
        joined_on: Some(joined_on),
        left_on: None,
        voting_rights: input.voting_rights,
        tags: json!(tags),
        retention_until: None,
        anonymized_at: None,
        created_by: actor.user_id,
        updated_by: actor.user_id,
        created_at: actor.now,
        updated_at: actor.now,
    };
    Ok((row, number))
}

/// Inserts a validated member (`id` is assigned) with its `member.create` audit
/// record, on the caller's transaction: createMember and approveAdmission both
/// make members this way. `admission_id` links the record to the application.
pub(crate) async fn insert_member<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor<'_>,
    member: member::Model,
    admission_id: Option<i64>,
) -> Result<member::Model, DomainError> {
    let mut row = member.into_active_model().reset_all();
    row.id = sea_orm::ActiveValue::NotSet;
    let created = row.insert(txn).await?;
    let mut after = member_json(&created);
    if let (Some(id), Some(obj)) = (admission_id, after.as_object_mut()) {
        obj.insert("admission_id".into(), json!(id));
    }
    audit::record(txn, actor.now, actor.audit("member.create", "member", created.id, None, Some(after)))
        .await?;
    Ok(created)
}

/// What an update did, for the caller's cache invalidation.
pub struct Updated {
    pub member: member::Model,
    /// The member's users, when the status changed: they may have gained or lost
    /// every right (R6). Announced to the other instances with the change.
    pub users_changed: Vec<i64>,
    /// The member as the caller sees it after the update (see `Written`).
    pub visible: Option<MemberRow>,
}

/// updateMember: member.write on the member, and at the destination when moving it
/// (R13); a member changes their own email, phone and address without it (R17).
pub async fn update_member(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    changes: MemberChanges,
) -> Result<Updated, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let row = find_for_write(&txn, actor.grants, member_id).await?.ok_or(DomainError::NotFound)?;
    let may_write = actor.grants.holds_at(Permission::MemberWrite, &row.home_path);
    if !may_write {
        let own_contact =
            writes::may_update_own_contact(actor.grants, member_id) && changes.is_contact_only();
        if !own_contact {
            return Err(DomainError::denied(
                Permission::MemberWrite,
                if row.access.is_self {
                    "you may change only your own email, phone and address (R17)"
                } else {
                    "you do not hold member.write on this member (R13)"
                },
            ));
        }
    }
    let home = unit_locked(&txn, row.member.home_unit_id).await?.ok_or(DomainError::NotFound)?;
    writable(&home)?;
    not_anonymized(&row.member)?;
    let destination = match changes.home_unit_id.filter(|to| *to != home.id) {
        Some(to) => {
            let unit =
                unit_for_write(&txn, actor.grants, to, "homeUnitId", Some(Permission::MemberWrite)).await?;
            if !writes::may_update_member(actor.grants, &row.home_path, Some(&unit.path)) {
                return Err(DomainError::denied(
                    Permission::MemberWrite,
                    format!("moving a member needs member.write at the destination {} (R13)", unit.name),
                ));
            }
            writable(&unit)?;
            Some(unit)
        }
        None => None,
    };
    let before = row.member.clone();
    let mut m = apply_changes(&before, &changes, actor.today)?;
    if let Some(unit) = &destination {
        m.home_unit_id = unit.id;
    }
    let (b, a) = changed(&member_json(&before), &member_json(&m));
    if a.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Updated { member: before, users_changed: Vec::new(), visible: Some(row) });
    }
    m.updated_by = actor.user_id;
    m.updated_at = actor.now;
    let status_changed = m.status != before.status;
    let updated = m.into_active_model().reset_all().update(&txn).await?;
    audit::record(&txn, actor.now, actor.audit("member.update", "member", member_id, Some(b), Some(a)))
        .await?;
    let visible = find_visible(&txn, actor.grants, member_id).await?;
    let users_changed = if status_changed {
        let users = user::Entity::find().filter(user::Column::MemberId.eq(member_id)).all(&txn).await?;
        let ids: Vec<i64> = users.into_iter().map(|u| u.id).collect();
        notify::announce_users(&txn, &ids).await?;
        ids
    } else {
        Vec::new()
    };
    txn.commit().await?;
    Ok(Updated { member: updated, users_changed, visible })
}

/// The checks of updateMember on its changes, without the database: `before` with
/// the changes applied (the home unit is the caller's: it needs the destination's
/// rules). Imports check their rows with it.
pub(crate) fn apply_changes(
    before: &member::Model,
    changes: &MemberChanges,
    today: NaiveDate,
) -> Result<member::Model, DomainError> {
    let mut m = before.clone();
    if let Some(v) = &changes.first_name {
        m.first_name = validate::text("firstName", v, 100)?;
    }
    if let Some(v) = &changes.last_name {
        m.last_name = validate::text("lastName", v, 100)?;
    }
    if let Some(v) = changes.birth_date {
        m.birth_date = v.map(|d| validate::birth_date("birthDate", d, today)).transpose()?;
    }
    if let Some(v) = &changes.gender {
        m.gender = gender(v.as_deref())?;
    }
    if let Some(v) = &changes.email {
        m.email = validate::email("email", v.as_deref())?;
    }
    if let Some(v) = &changes.phone {
        m.phone = validate::optional_text("phone", v.as_deref(), 64)?;
    }
    if let Some(v) = &changes.street {
        m.street = validate::optional_text("address.street", v.as_deref(), 200)?;
    }
    if let Some(v) = &changes.postal_code {
        m.postal_code = validate::optional_text("address.postalCode", v.as_deref(), 16)?;
    }
    if let Some(v) = &changes.city {
        m.city = validate::optional_text("address.city", v.as_deref(), 100)?;
    }
    if let Some(v) = &changes.country {
        m.country = validate::country("address.country", v.as_deref())?;
    }
    if let Some(status) = changes.status {
        if status == MemberStatus::Left && before.status != MemberStatus::Left {
            return Err(DomainError::bad_input(
                "status",
                "a membership ends through its own workflow (leaving date and retention), not by setting LEFT",
            ));
        }
        m.status = status;
    }
    if let Some(v) = changes.joined_on {
        m.joined_on = v;
    }
    // The two dates checked together, whichever of them changed.
    if (changes.joined_on.is_some() || changes.birth_date.is_some())
        && let Some(joined) = m.joined_on
    {
        let field = if changes.joined_on.is_some() { "joinedOn" } else { "birthDate" };
        validate::joined_on(field, joined, m.birth_date, today)?;
    }
    if let Some(v) = changes.voting_rights {
        m.voting_rights = v;
    }
    if let Some(v) = &changes.tags {
        m.tags = json!(tags("tags", v)?);
    }
    Ok(m)
}

/// The member a bank or payment write is about, locked for the write transaction
/// `conn`, with the permission checked (R13), its unit writable and the record not
/// anonymized.
async fn member_for<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor<'_>,
    member_id: i64,
    needs: Permission,
) -> Result<MemberRow, DomainError> {
    actor.signed_in()?;
    let row = find_for_write(conn, actor.grants, member_id).await?.ok_or(DomainError::NotFound)?;
    if !actor.grants.holds_at(needs, &row.home_path) {
        return Err(DomainError::denied(needs, format!("you do not hold {needs} on this member (R13)")));
    }
    let home = unit_locked(conn, row.member.home_unit_id).await?.ok_or(DomainError::NotFound)?;
    writable(&home)?;
    not_anonymized(&row.member)?;
    Ok(row)
}

pub struct BankAccountInput {
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
}

/// The checks of setBankAccount on its input: IBAN (check digits, electronic
/// format), BIC, account holder. Imports check their bank columns with it.
pub(crate) fn validate_bank_account(
    input: &BankAccountInput,
) -> Result<(String, Option<String>, String), DomainError> {
    let iban = validate::iban("iban", &input.iban)?;
    let bic = validate::bic("bic", input.bic.as_deref())?;
    let holder = validate::text("accountHolder", &input.account_holder, 140)?;
    Ok((iban, bic, holder))
}

/// setBankAccount: bank.write on the member (R13); the IBAN's checksum is verified.
pub async fn set_bank_account(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    input: BankAccountInput,
) -> Result<bank_account::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = member_for(&txn, actor, member_id, Permission::BankWrite).await?;
    let (iban, bic, holder) = validate_bank_account(&input)?;
    let existing = bank_account::Entity::find_by_id(row.member.id).one(&txn).await?;
    let before = existing.as_ref().map(|b| json!({ "iban": validate::mask_iban(&b.iban) }));
    let saved = match existing {
        Some(b) => {
            let mut b = b.into_active_model();
            b.iban = Set(iban);
            b.bic = Set(bic);
            b.account_holder = Set(holder);
            b.updated_at = Set(actor.now);
            b.update(&txn).await?
        }
        None => {
            bank_account::ActiveModel {
                member_id: Set(row.member.id),
                iban: Set(iban),
                bic: Set(bic),
                account_holder: Set(holder),
                created_at: Set(actor.now),
                updated_at: Set(actor.now),
            }
            .insert(&txn)
            .await?
        }
    };
    // Bank data stays out of the audit trail beyond what identifies the change.
    let after = json!({ "iban": validate::mask_iban(&saved.iban) });
    audit::record(&txn, actor.now, actor.audit("bank_account.set", "member", member_id, before, Some(after)))
        .await?;
    txn.commit().await?;
    Ok(saved)
}

pub struct SepaMandateInput {
    pub reference: String,
    pub signed_on: NaiveDate,
    /// The member's bank account's IBAN when absent.
    pub iban: Option<String>,
}

/// addSepaMandate: bank.write on the member (R13); references are unique.
pub async fn add_sepa_mandate(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    input: SepaMandateInput,
) -> Result<sepa_mandate::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = member_for(&txn, actor, member_id, Permission::BankWrite).await?;
    let reference = validate::text("reference", &input.reference, 35)?;
    // SEPA mandate references: Latin letters, digits and + ? / - : ( ) . , ' and space.
    if !reference.chars().all(|c| c.is_ascii_alphanumeric() || "+?/-:().,' ".contains(c)) {
        return Err(DomainError::bad_input(
            "reference",
            "only letters, digits and + ? / - : ( ) . , ' are allowed",
        ));
    }
    let signed_on = validate::not_future("signedOn", input.signed_on, actor.today)?;
    let iban = match &input.iban {
        Some(i) => validate::iban("iban", i)?,
        None => bank_account::Entity::find_by_id(row.member.id).one(&txn).await?.map(|b| b.iban).ok_or_else(
            || DomainError::bad_input("iban", "the member has no bank account on record: give the IBAN"),
        )?,
    };
    let taken = sepa_mandate::Entity::find()
        .filter(sepa_mandate::Column::Reference.eq(&reference))
        .count(&txn)
        .await?;
    if taken > 0 {
        return Err(DomainError::taken(&failure::MANDATE_REFERENCE));
    }
    let saved = sepa_mandate::ActiveModel {
        member_id: Set(row.member.id),
        reference: Set(reference),
        signed_on: Set(signed_on),
        iban: Set(iban),
        status: Set(MandateStatus::Active),
        created_at: Set(actor.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let after = json!({ "reference": saved.reference, "signed_on": saved.signed_on, "iban": validate::mask_iban(&saved.iban) });
    audit::record(&txn, actor.now, actor.audit("sepa_mandate.add", "member", member_id, None, Some(after)))
        .await?;
    txn.commit().await?;
    Ok(saved)
}

pub struct PaymentInput {
    pub amount_cents: i64,
    pub currency: Option<String>,
    pub paid_on: NaiveDate,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub note: Option<String>,
}

/// recordPayment: payment.write on the member (R13).
pub async fn record_payment(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    input: PaymentInput,
) -> Result<payment::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = member_for(&txn, actor, member_id, Permission::PaymentWrite).await?;
    if input.amount_cents <= 0 || input.amount_cents > 100_000_000 {
        return Err(DomainError::bad_input("amountCents", "must be between 1 and 100000000 cents"));
    }
    let currency = input.currency.as_deref().map(str::trim).unwrap_or("EUR").to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(DomainError::bad_input("currency", "must be an ISO 4217 code such as EUR"));
    }
    let paid_on = validate::not_future("paidOn", input.paid_on, actor.today)?;
    validate::ordered("periodTo", input.period_from, input.period_to)?;
    let note = validate::optional_free_text("note", input.note.as_deref(), 500)?;
    let saved = payment::ActiveModel {
        member_id: Set(row.member.id),
        amount_cents: Set(input.amount_cents),
        currency: Set(currency),
        paid_on: Set(paid_on),
        period_from: Set(input.period_from),
        period_to: Set(input.period_to),
        note: Set(note),
        created_by: Set(actor.user_id),
        created_at: Set(actor.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let after = json!({ "payment_id": saved.id, "amount_cents": saved.amount_cents, "currency": saved.currency, "paid_on": saved.paid_on });
    audit::record(&txn, actor.now, actor.audit("payment.record", "member", member_id, None, Some(after)))
        .await?;
    txn.commit().await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{IdenStatic, Iterable};

    #[test]
    fn member_rows_are_read_in_the_entitys_column_order() {
        // `member_at` reads by position: the select lists the entity's columns in
        // this order, then the home unit's path.
        let names: Vec<&str> = member::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "membership_number",
                "home_unit_id",
                "first_name",
                "last_name",
                "birth_date",
                "gender",
                "email",
                "phone",
                "street",
                "postal_code",
                "city",
                "country",
                "status",
                "joined_on",
                "left_on",
                "voting_rights",
                "tags",
                "retention_until",
                "anonymized_at",
                "created_by",
                "updated_by",
                "created_at",
                "updated_at",
            ]
        );
        assert_eq!(names.len(), MEMBER_COLUMNS);
    }
}
