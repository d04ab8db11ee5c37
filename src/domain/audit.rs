//! Audit records, written with the change they describe (same connection, same
//! transaction).
use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

pub struct AuditRecord<'a> {
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

pub async fn record<C: ConnectionTrait>(
    conn: &C,
    at: DateTime<Utc>,
    rec: AuditRecord<'_>,
) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        at: Set(at),
        actor_user_id: Set(rec.actor_user_id),
        action: Set(rec.action.to_owned()),
        entity: Set(rec.entity.to_owned()),
        entity_id: Set(rec.entity_id),
        before: Set(rec.before),
        after: Set(rec.after),
        request_id: Set(rec.request_id),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map(|_| ())
}

/// Bank data read by `actor` (R12 fields, exports): one row per member, all in one
/// statement whose text is the same for any number of members (the ids travel as
/// one JSON parameter), so it is prepared once per connection and costs one round
/// trip. (A read has no transaction of its own: the rows are written after it, in
/// the writers' turn.)
pub async fn record_bank_reads(
    conn: &sea_orm::DatabaseConnection,
    at: DateTime<Utc>,
    actor_user_id: Option<i64>,
    request_id: Option<String>,
    member_ids: &[i64],
) -> Result<(), DbErr> {
    use sea_orm::{DatabaseBackend, Statement};
    if member_ids.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO audit_event (at, actor_user_id, action, entity, entity_id, request_id) \
             SELECT $1, $2, $3, $4, e.value, $5 FROM jsonb_array_elements_text($6::jsonb) AS e(value)"
        }
        _ => {
            "INSERT INTO audit_event (at, actor_user_id, action, entity, entity_id, request_id) \
             SELECT ?, ?, ?, ?, e.value, ? FROM json_each(?) AS e"
        }
    };
    let values: [sea_orm::Value; 6] = [
        at.into(),
        actor_user_id.into(),
        BANK_READ.into(),
        "member".into(),
        request_id.into(),
        id_list(member_ids).into(),
    ];
    let _turn = crate::db::writer_turn(conn).await?;
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map(|_| ())
}

/// The bank accounts of `members` (the caller holds bank.read on each), read on
/// PostgreSQL in one statement with the audit rows of the reads of `audited`
/// (those of `members` that are not the caller's own record): the rows come back
/// only once the audit rows are stored, and no round trip or commit of its own is
/// spent on the audit. None on SQLite (no writes inside a read there): read and
/// audit as two statements.
pub async fn read_bank_accounts(
    conn: &sea_orm::DatabaseConnection,
    at: DateTime<Utc>,
    actor_user_id: Option<i64>,
    request_id: Option<String>,
    members: &[i64],
    audited: &[i64],
) -> Result<Option<Vec<entity::bank_account::Model>>, DbErr> {
    use sea_orm::{DatabaseBackend, FromQueryResult, Statement};
    let backend = conn.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let sql = "WITH read AS (\
           SELECT b.member_id, b.iban, b.bic, b.account_holder, b.created_at, b.updated_at FROM bank_account b \
           WHERE b.member_id IN (SELECT e.value::bigint FROM jsonb_array_elements_text($1::jsonb) AS e(value))), \
         audited AS (\
           INSERT INTO audit_event (at, actor_user_id, action, entity, entity_id, request_id) \
           SELECT $2, $3, $4, $5, read.member_id::text, $6 FROM read \
           WHERE read.member_id IN (SELECT e.value::bigint FROM jsonb_array_elements_text($7::jsonb) AS e(value))) \
         SELECT member_id, iban, bic, account_holder, created_at, updated_at FROM read";
    let values: [sea_orm::Value; 7] = [
        id_list(members).into(),
        at.into(),
        actor_user_id.into(),
        BANK_READ.into(),
        "member".into(),
        request_id.into(),
        id_list(audited).into(),
    ];
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.iter()
        .map(|row| entity::bank_account::Model::from_query_result(row, ""))
        .collect::<Result<Vec<_>, DbErr>>()
        .map(Some)
}

/// Member ids as one JSON parameter (an array of strings, as `entity_id` stores
/// them): one statement text for any number of ids.
fn id_list(ids: &[i64]) -> String {
    serde_json::Value::from(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>()).to_string()
}

/// The action of a bank-data read in the audit trail.
pub const BANK_READ: &str = "bank.read";

/// R18: what the caller may read now of the subjects of a page of audit events
/// (`authz::echo` decides field by field). A constant number of statements,
/// whatever the page size: one per kind of subject on the page, plus the members'
/// pending transfers when R15 can apply.
pub async fn readable<C: ConnectionTrait>(
    conn: &C,
    grants: &crate::authz::Grants,
    subjects: &[crate::authz::echo::Subject],
) -> Result<crate::authz::echo::Readable, DbErr> {
    use crate::authz::PermSet;
    use crate::authz::Permission;
    use crate::authz::echo::{Readable, Subject};
    use crate::authz::units::{can_see_unit, needed_to_see};
    use crate::domain::members::rows_with_access;
    use entity::{admission, assignment, member, org_unit, transfer};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use std::collections::{BTreeSet, HashMap};

    let ids = |f: fn(&Subject) -> Option<i64>| -> BTreeSet<i64> { subjects.iter().filter_map(f).collect() };
    let member_ids = ids(|s| if let Subject::Member(id) = s { Some(*id) } else { None });
    let transfer_ids = ids(|s| if let Subject::Transfer(id) = s { Some(*id) } else { None });
    let assignment_ids = ids(|s| if let Subject::Assignment(id) = s { Some(*id) } else { None });
    let admission_ids = ids(|s| if let Subject::Admission(id) = s { Some(*id) } else { None });
    let unit_ids = ids(|s| if let Subject::OrgUnit(id) = s { Some(*id) } else { None });
    let user_ids = ids(|s| if let Subject::User(id) = s { Some(*id) } else { None });

    let transfers: Vec<(i64, i64)> = if transfer_ids.is_empty() {
        Vec::new()
    } else {
        transfer::Entity::find()
            .filter(transfer::Column::Id.is_in(transfer_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|t| (t.id, t.member_id))
            .collect()
    };
    let assignments: Vec<assignment::Model> = if assignment_ids.is_empty() {
        Vec::new()
    } else {
        assignment::Entity::find().filter(assignment::Column::Id.is_in(assignment_ids)).all(conn).await?
    };
    let admissions: Vec<admission::Model> = if admission_ids.is_empty() {
        Vec::new()
    } else {
        admission::Entity::find().filter(admission::Column::Id.is_in(admission_ids)).all(conn).await?
    };
    let all_units: BTreeSet<i64> = unit_ids
        .iter()
        .copied()
        .chain(assignments.iter().map(|a| a.org_unit_id))
        .chain(admissions.iter().map(|a| a.org_unit_id))
        .collect();
    let units: HashMap<i64, org_unit::Model> = if all_units.is_empty() {
        HashMap::new()
    } else {
        org_unit::Entity::find()
            .filter(org_unit::Column::Id.is_in(all_units))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    let all_members: BTreeSet<i64> = member_ids
        .iter()
        .copied()
        .chain(transfers.iter().map(|(_, m)| *m))
        .chain(assignments.iter().map(|a| a.member_id))
        .collect();
    // The row check of the API, R15 included: content is shown as far as the
    // member's fields would be.
    let access: HashMap<i64, PermSet> = if all_members.is_empty() {
        HashMap::new()
    } else {
        let select = member::Entity::find().filter(member::Column::Id.is_in(all_members));
        rows_with_access(conn, grants, select)
            .await?
            .into_iter()
            .map(|r| (r.member.id, r.access.permissions))
            .collect()
    };

    let mut readable = Readable::default();
    for id in member_ids {
        if let Some(perms) = access.get(&id) {
            readable.grant(Subject::Member(id), *perms);
        }
    }
    for (id, member_id) in transfers {
        if let Some(perms) = access.get(&member_id) {
            readable.grant(Subject::Transfer(id), *perms);
        }
    }
    for a in assignments {
        let manages =
            units.get(&a.org_unit_id).is_some_and(|u| grants.holds_at(Permission::AssignmentWrite, &u.path));
        if manages || access.contains_key(&a.member_id) {
            readable.grant(Subject::Assignment(a.id), PermSet::of(Permission::MemberRead));
        }
    }
    for adm in admissions {
        if units.get(&adm.org_unit_id).is_some_and(|u| crate::domain::admissions::may_see(grants, &u.path)) {
            readable.grant(Subject::Admission(adm.id), PermSet::of(Permission::AdmissionApprove));
        }
    }
    for id in unit_ids {
        let Some(unit) = units.get(&id) else { continue };
        if can_see_unit(grants, unit) {
            readable.unit_visible(id);
        } else if let Some(needs) = needed_to_see(grants, unit) {
            readable.unit_hidden(id, needs);
        }
    }
    for id in user_ids {
        // Users are readable by user managers and by themselves.
        if grants.holds_system(Permission::UserManage) || grants.user_id() == Some(id) {
            readable.grant(Subject::User(id), PermSet::of(Permission::UserManage));
        }
    }
    Ok(readable)
}
