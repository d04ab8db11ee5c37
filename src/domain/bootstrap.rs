//! `verband bootstrap`: the root unit and a first administrator — a member user with
//! the global tree group `federation_admin`, level 3, the SYSTEM group
//! `system_admin`, and a privacy pledge on record.
use crate::auth::password::PasswordHasher;
use crate::clock::Clock;
use crate::domain::catalogue::{self, BUND, CatalogueIds};
use crate::domain::seed::allocate_membership_numbers;
use crate::domain::{DomainError, audit};
use chrono::Utc;
use entity::{MemberStatus, OrgUnitStatus, Visibility, member, org_unit, user, user_system_group};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
};

pub const MIN_PASSWORD_LEN: usize = 10;

pub struct AdminInput<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

#[derive(Debug)]
pub struct Bootstrapped {
    pub root_unit_id: i64,
    pub created_root: bool,
    pub user_id: i64,
}

pub async fn bootstrap(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    clock: Clock,
    admin: AdminInput<'_>,
    root_name: &str,
) -> Result<Bootstrapped, DomainError> {
    let txn = crate::db::write_transaction(db).await?;
    let cat = catalogue::ensure_default(&txn).await?;
    let existing_root =
        org_unit::Entity::find().filter(org_unit::Column::ParentId.is_null()).one(&txn).await?;
    let (root_unit_id, created_root) = match existing_root {
        Some(root) => (root.id, false),
        None => (create_root(&txn, &cat, root_name).await?, true),
    };
    let user_id = create_admin(&txn, hasher, clock, &cat, root_unit_id, admin).await?;
    // Instances already serving this database drop what they cached.
    crate::authz::notify::announce(&txn, crate::authz::notify::Change::Everything).await?;
    txn.commit().await?;
    Ok(Bootstrapped { root_unit_id, created_root, user_id })
}

async fn create_root<C: ConnectionTrait>(
    conn: &C,
    cat: &CatalogueIds,
    name: &str,
) -> Result<i64, DomainError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DomainError::bad_input("rootName", "must not be empty"));
    }
    let now = Utc::now();
    // The path needs the id: insert with a placeholder that cannot collide, then set it.
    let placeholder = format!("~{}", now.timestamp_nanos_opt().unwrap_or_default());
    let row = org_unit::ActiveModel {
        parent_id: Set(None),
        level_id: Set(cat.levels[BUND]),
        name: Set(name.to_owned()),
        short_name: Set(None),
        status: Set(OrgUnitStatus::Active),
        visibility: Set(Visibility::Public),
        ends_on: Set(None),
        path: Set(placeholder),
        depth: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let id = row.id;
    let mut row: org_unit::ActiveModel = row.into();
    row.path = Set(format!("/{id}/"));
    row.update(conn).await?;
    audit::record(
        conn,
        now,
        audit::AuditRecord {
            actor_user_id: None,
            action: "org_unit.create",
            entity: "org_unit",
            entity_id: id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "name": name, "parent_id": null })),
            request_id: None,
        },
    )
    .await?;
    Ok(id)
}

/// Creates the administrator's member record in `root_unit_id` and its user.
pub async fn create_admin<C: ConnectionTrait>(
    conn: &C,
    hasher: &PasswordHasher,
    clock: Clock,
    cat: &CatalogueIds,
    root_unit_id: i64,
    input: AdminInput<'_>,
) -> Result<i64, DomainError> {
    let username = input.username.trim();
    if username.is_empty() || username.len() > 128 {
        return Err(DomainError::bad_input("username", "must be 1 to 128 characters"));
    }
    if input.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(DomainError::bad_input(
            "password",
            format!("must have at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if user::Entity::find().filter(user::Column::Username.eq(username)).one(conn).await?.is_some() {
        return Err(DomainError::taken(&crate::db::failure::USERNAME));
    }
    let now = Utc::now();
    let today = clock.today();
    let number = allocate_membership_numbers(conn, 1).await?;
    let member = member::ActiveModel {
        membership_number: Set(number.to_string()),
        home_unit_id: Set(root_unit_id),
        first_name: Set("Administration".to_owned()),
        last_name: Set(username.to_owned()),
        status: Set(MemberStatus::Active),
        joined_on: Set(Some(today)),
        voting_rights: Set(false),
        tags: Set(serde_json::json!([])),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let password_hash = hasher.hash(input.password).map_err(|e| DomainError::Internal(e.to_string()))?;
    let user = user::ActiveModel {
        username: Set(username.to_owned()),
        email: Set(None),
        password_hash: Set(Some(password_hash)),
        member_id: Set(Some(member.id)),
        level: Set(3),
        global_tree_group_id: Set(Some(cat.group("federation_admin")?)),
        privacy_pledge_signed_on: Set(Some(today)),
        disabled: Set(false),
        external_subject: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    user_system_group::ActiveModel {
        user_id: Set(user.id),
        permission_group_id: Set(cat.group("system_admin")?),
    }
    .insert(conn)
    .await?;
    // R10: setting a global tree group is always audited.
    audit::record(
        conn,
        now,
        audit::AuditRecord {
            actor_user_id: None,
            action: "user.bootstrap",
            entity: "user",
            entity_id: user.id.to_string(),
            before: None,
            after: Some(serde_json::json!({
                "username": username,
                "member_id": member.id,
                "level": 3,
                "global_tree_group": "federation_admin",
                "system_groups": ["system_admin"],
            })),
            request_id: None,
        },
    )
    .await?;
    Ok(user.id)
}
