//! User administration (Benutzerverwaltung): system users, member logins, user
//! level, system groups, global tree group, privacy pledge, disabling. Everything
//! here needs user.manage, except a member login, which the member's own
//! administrators (member.write on the member) may also create. Each change is
//! written with its audit record in one transaction.
use crate::auth::password::PasswordHasher;
use crate::authz::catalogue::{Catalogue, GroupInfo};
use crate::authz::notify::{self, Change};
use crate::authz::{PermSet, Permission};
use crate::db::{failure, write_transaction};
use crate::domain::assignment_rules::{check_global_tree_group, check_system_groups};
use crate::domain::members::find_visible;
use crate::domain::{Actor, DomainError, audit, validate};
use chrono::NaiveDate;
use entity::{MemberStatus, org_unit, session, user, user_system_group};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};

/// The user level range of the system this replaces; only above 2 do system
/// groups act (R7).
pub const LEVELS: std::ops::RangeInclusive<i32> = 1..=9;
/// A generated initial password: long enough to need no complexity rules.
const GENERATED_PASSWORD_LEN: usize = 20;
const MAX_USERNAME_LEN: usize = 128;

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password: &'a str,
    pub level: i32,
}

pub struct MemberLogin<'a> {
    pub member_id: i64,
    /// Defaults to the membership number.
    pub username: Option<&'a str>,
    /// Generated (and returned once) when missing.
    pub password: Option<&'a str>,
}

/// What is recorded about a user in audit records: never the password hash.
pub fn snapshot(u: &user::Model) -> Value {
    json!({
        "username": u.username,
        "email": u.email,
        "member_id": u.member_id,
        "level": u.level,
        "global_tree_group_id": u.global_tree_group_id,
        "privacy_pledge_signed_on": u.privacy_pledge_signed_on,
        "disabled": u.disabled,
    })
}

fn require_user_manage(actor: &Actor<'_>, what: &str) -> Result<i64, DomainError> {
    let me = actor.signed_in()?;
    if !actor.grants.holds_system(Permission::UserManage) {
        return Err(DomainError::Forbidden(format!("{what} needs user.manage")));
    }
    Ok(me)
}

fn validate_username(field: &'static str, username: &str) -> Result<String, DomainError> {
    let username = username.trim();
    if username.is_empty() || username.chars().count() > MAX_USERNAME_LEN {
        return Err(DomainError::bad_input(field, format!("must be 1 to {MAX_USERNAME_LEN} characters")));
    }
    if username.chars().any(char::is_whitespace) {
        return Err(DomainError::bad_input(field, "must not contain spaces"));
    }
    validate::text(field, username, MAX_USERNAME_LEN)
}

fn validate_password(field: &'static str, password: &str) -> Result<(), DomainError> {
    if password.chars().count() < crate::auth::signin::MIN_PASSWORD_LEN {
        return Err(DomainError::bad_input(
            field,
            format!("must have at least {} characters", crate::auth::signin::MIN_PASSWORD_LEN),
        ));
    }
    Ok(())
}

fn validate_level(level: i32) -> Result<(), DomainError> {
    if !LEVELS.contains(&level) {
        return Err(DomainError::bad_input(
            "level",
            format!("must be between {} and {}", LEVELS.start(), LEVELS.end()),
        ));
    }
    Ok(())
}

/// argon2 is deliberately slow: hash off the async workers.
async fn hash_password(hasher: &PasswordHasher, password: &str) -> Result<String, DomainError> {
    let hasher = hasher.clone();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hasher.hash(&password))
        .await
        .map_err(|e| DomainError::Internal(format!("password hashing task: {e}")))?
        .map_err(|e| DomainError::Internal(e.to_string()))
}

fn generated_password() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(GENERATED_PASSWORD_LEN).map(char::from).collect()
}

async fn username_taken<C: ConnectionTrait>(conn: &C, username: &str) -> Result<bool, DbErr> {
    Ok(user::Entity::find().filter(user::Column::Username.eq(username)).one(conn).await?.is_some())
}

async fn find_user<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<user::Model, DomainError> {
    user::Entity::find_by_id(user_id).one(conn).await?.ok_or(DomainError::NotFound)
}

/// A system user: no member (member users are only made by `enable_member_login`).
pub async fn create_user(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    hasher: &PasswordHasher,
    input: NewUser<'_>,
) -> Result<user::Model, DomainError> {
    require_user_manage(actor, "creating a user")?;
    let username = validate_username("username", input.username)?;
    let email = validate::email("email", input.email)?;
    validate_password("password", input.password)?;
    validate_level(input.level)?;
    if username_taken(db, &username).await? {
        return Err(DomainError::taken(&failure::USERNAME));
    }
    let hash = hash_password(hasher, input.password).await?;
    // A concurrent create of the same username fails on the unique constraint:
    // the same CONFLICT as the check above.
    let txn = write_transaction(db).await?;
    let row = new_user(&username, email, hash, None, input.level, actor).insert(&txn).await?;
    audit::record(&txn, actor.now, actor.audit("user.create", "user", row.id, None, Some(snapshot(&row))))
        .await?;
    notify::announce(&txn, Change::User(row.id)).await?;
    txn.commit().await?;
    Ok(row)
}

fn new_user(
    username: &str,
    email: Option<String>,
    password_hash: String,
    member_id: Option<i64>,
    level: i32,
    actor: &Actor<'_>,
) -> user::ActiveModel {
    user::ActiveModel {
        username: Set(username.to_owned()),
        email: Set(email),
        password_hash: Set(Some(password_hash)),
        member_id: Set(member_id),
        level: Set(level),
        global_tree_group_id: Set(None),
        privacy_pledge_signed_on: Set(None),
        disabled: Set(false),
        external_subject: Set(None),
        created_at: Set(actor.now),
        updated_at: Set(actor.now),
        failed_logins: Set(0),
        locked_until: Set(None),
        ..Default::default()
    }
}

/// The login of a member (a member user, level 2). The member must be visible to
/// the caller (else NOT_FOUND, the same as a missing member, R11) and the caller
/// needs member.write on it or user.manage. Returns the user and the generated
/// password, if one was generated (shown once, never stored in clear).
pub async fn enable_member_login(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    hasher: &PasswordHasher,
    input: MemberLogin<'_>,
) -> Result<(user::Model, Option<String>), DomainError> {
    actor.signed_in()?;
    let Some(row) = find_visible(db, actor.grants, input.member_id).await? else {
        return Err(DomainError::NotFound);
    };
    if !actor.grants.holds_at(Permission::MemberWrite, &row.home_path)
        && !actor.grants.holds_system(Permission::UserManage)
    {
        return Err(DomainError::Forbidden(
            "enabling a member's login needs member.write on the member or user.manage".into(),
        ));
    }
    let member = row.member;
    if member.status == MemberStatus::Left || member.anonymized_at.is_some() {
        return Err(DomainError::bad_input("memberId", "the member has left and cannot sign in"));
    }
    let username = validate_username("username", input.username.unwrap_or(&member.membership_number))?;
    if let Some(p) = input.password {
        validate_password("password", p)?;
    }
    let existing = user::Entity::find().filter(user::Column::MemberId.eq(member.id)).one(db).await?;
    if existing.is_some() {
        return Err(DomainError::taken(&failure::MEMBER_LOGIN));
    }
    if username_taken(db, &username).await? {
        return Err(DomainError::taken(&failure::USERNAME));
    }
    let generated = input.password.is_none().then(generated_password);
    let password = input.password.or(generated.as_deref()).unwrap_or_default();
    let hash = hash_password(hasher, password).await?;
    // The email is taken over once; later changes on either side stay apart.
    let email = validate::email("email", member.email.as_deref()).ok().flatten();
    let txn = write_transaction(db).await?;
    // The member again, locked: anonymized or left meanwhile (the hash took a
    // while), it gets no login.
    let still = entity::member::Entity::find_by_id(member.id).lock_exclusive().one(&txn).await?;
    if !still.is_some_and(|m| m.status != MemberStatus::Left && m.anonymized_at.is_none()) {
        return Err(DomainError::bad_input("memberId", "the member has left and cannot sign in"));
    }
    let row = new_user(&username, email, hash, Some(member.id), user::MEMBER_USER_LEVEL, actor)
        .insert(&txn)
        .await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("user.enable_member_login", "user", row.id, None, Some(snapshot(&row))),
    )
    .await?;
    notify::announce(&txn, Change::User(row.id)).await?;
    txn.commit().await?;
    Ok((row, generated))
}

/// Writes one change of a user with its audit record (before/after snapshots).
async fn update_user(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    action: &str,
    before: user::Model,
    change: impl FnOnce(&mut user::ActiveModel),
) -> Result<user::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let mut active = before.clone().into_active_model();
    change(&mut active);
    active.updated_at = Set(actor.now);
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(action, "user", after.id, Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    notify::announce(&txn, Change::User(after.id)).await?;
    txn.commit().await?;
    Ok(after)
}

/// The user level (1–9); system groups act only above 2 (R7).
pub async fn set_level(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    user_id: i64,
    level: i32,
) -> Result<user::Model, DomainError> {
    require_user_manage(actor, "setting a user level")?;
    validate_level(level)?;
    let before = find_user(db, user_id).await?;
    update_user(db, actor, "user.set_level", before, |u| u.level = Set(level)).await
}

/// The global tree group (R4): a MEMBERSHIP group (R8), or none. Needs user.manage
/// and every permission of the group held at every unit by the setter; always
/// audited (R10).
pub async fn set_global_tree_group(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    catalogue: &Catalogue,
    user_id: i64,
    group_id: Option<i64>,
) -> Result<user::Model, DomainError> {
    require_user_manage(actor, "setting a global tree group")?;
    let group = group_id
        .map(|id| {
            catalogue.group(id).ok_or_else(|| DomainError::bad_input("groupId", "no such permission group"))
        })
        .transpose()?;
    let root = match group {
        Some(_) => org_unit::Entity::find().filter(org_unit::Column::ParentId.is_null()).one(db).await?,
        None => None,
    };
    check_global_tree_group(actor.grants, group, root.as_ref())?;
    let before = find_user(db, user_id).await?;
    update_user(db, actor, "user.set_global_tree_group", before, |u| u.global_tree_group_id = Set(group_id))
        .await
}

/// Replaces the user's system groups. R8: SYSTEM groups only. Nobody grants more
/// than they hold: a group the user does not have yet may only be added by a
/// caller holding all of its permissions.
pub async fn set_system_groups(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    catalogue: &Catalogue,
    user_id: i64,
    group_ids: &[i64],
) -> Result<(user::Model, Vec<i64>), DomainError> {
    require_user_manage(actor, "setting system groups")?;
    let mut wanted: Vec<i64> = group_ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let groups: Vec<&GroupInfo> = wanted
        .iter()
        .map(|id| {
            catalogue.group(*id).ok_or_else(|| DomainError::bad_input("groupIds", "no such permission group"))
        })
        .collect::<Result<_, _>>()?;
    check_system_groups(&groups)?;
    let target = find_user(db, user_id).await?;
    let before = system_group_ids(db, user_id).await?;
    let held = actor.grants.system_permissions();
    let added: PermSet = groups
        .iter()
        .filter(|g| !before.contains(&g.id))
        .map(|g| g.permissions)
        .fold(PermSet::EMPTY, PermSet::union);
    let missing = added.minus(held);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(Permission::as_str).collect();
        return Err(DomainError::Forbidden(format!(
            "the groups grant {}, which you do not hold yourself",
            names.join(", ")
        )));
    }
    let keys = |ids: &[i64]| -> Vec<String> {
        ids.iter().map(|id| catalogue.group(*id).map_or_else(|| id.to_string(), |g| g.key.clone())).collect()
    };
    let txn = write_transaction(db).await?;
    user_system_group::Entity::delete_many()
        .filter(user_system_group::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    if !wanted.is_empty() {
        user_system_group::Entity::insert_many(
            wanted.iter().map(|g| user_system_group::ActiveModel {
                user_id: Set(user_id),
                permission_group_id: Set(*g),
            }),
        )
        .exec(&txn)
        .await?;
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "user.set_system_groups",
            "user",
            user_id,
            Some(json!({ "system_groups": keys(&before) })),
            Some(json!({ "system_groups": keys(&wanted), "level": target.level })),
        ),
    )
    .await?;
    notify::announce(&txn, Change::User(user_id)).await?;
    txn.commit().await?;
    Ok((target, wanted))
}

/// The ids of a user's system groups, in id order.
pub async fn system_group_ids<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Vec<i64>, DbErr> {
    Ok(user_system_group::Entity::find()
        .filter(user_system_group::Column::UserId.eq(user_id))
        .order_by_asc(user_system_group::Column::PermissionGroupId)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.permission_group_id)
        .collect())
}

/// The signed privacy pledge (R6): no member data without it. Not in the future.
pub async fn record_privacy_pledge(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    user_id: i64,
    signed_on: NaiveDate,
) -> Result<user::Model, DomainError> {
    require_user_manage(actor, "recording a privacy pledge")?;
    validate::not_future("signedOn", signed_on, actor.today)?;
    let before = find_user(db, user_id).await?;
    update_user(db, actor, "user.record_privacy_pledge", before, |u| {
        u.privacy_pledge_signed_on = Set(Some(signed_on))
    })
    .await
}

/// Disables or enables a login. A disabled user can't sign in, holds nothing, and
/// their open sessions end; nobody can disable themself (and lock everyone out).
pub async fn set_disabled(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    user_id: i64,
    disabled: bool,
) -> Result<user::Model, DomainError> {
    let me = require_user_manage(actor, "disabling a user")?;
    if disabled && me == user_id {
        return Err(DomainError::bad_input("userId", "you cannot disable your own login"));
    }
    let before = find_user(db, user_id).await?;
    let txn = write_transaction(db).await?;
    let mut active = before.clone().into_active_model();
    active.disabled = Set(disabled);
    active.updated_at = Set(actor.now);
    let after = active.update(&txn).await?;
    if disabled {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(actor.now))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit("user.set_disabled", "user", user_id, Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    notify::announce(&txn, Change::User(user_id)).await?;
    txn.commit().await?;
    Ok(after)
}
