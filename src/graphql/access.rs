//! `explainAccess` and `whoCanAccess`: every decision can be explained.
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::{db, request, signed_in};
use crate::authz::explain::{self, Explanation, Target};
use crate::authz::facts::SubjectFacts;
use crate::authz::members::member_access;
use crate::authz::{Authz, Permission as Perm};
use async_graphql::{Context, Enum, ID, SimpleObject};
use entity::{member, org_unit};
use sea_orm::EntityTrait;
use std::sync::Arc;

/// The permissions of the authorization rules (`member.read` is `MEMBER_READ`); the
/// project's docs/authorization.md explains each.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Permission")]
pub enum PermissionName {
    MemberRead,
    MemberWrite,
    MemberCreate,
    MemberDelete,
    BankRead,
    BankWrite,
    PaymentRead,
    PaymentWrite,
    AdmissionApprove,
    AdmissionApproveAdult,
    UnitReadFinance,
    UnitWrite,
    AssignmentWrite,
    UserManage,
    CatalogueManage,
    AuditRead,
    InvoiceCreate,
}

impl From<PermissionName> for Perm {
    fn from(p: PermissionName) -> Perm {
        use PermissionName as N;
        match p {
            N::MemberRead => Perm::MemberRead,
            N::MemberWrite => Perm::MemberWrite,
            N::MemberCreate => Perm::MemberCreate,
            N::MemberDelete => Perm::MemberDelete,
            N::BankRead => Perm::BankRead,
            N::BankWrite => Perm::BankWrite,
            N::PaymentRead => Perm::PaymentRead,
            N::PaymentWrite => Perm::PaymentWrite,
            N::AdmissionApprove => Perm::AdmissionApprove,
            N::AdmissionApproveAdult => Perm::AdmissionApproveAdult,
            N::UnitReadFinance => Perm::UnitReadFinance,
            N::UnitWrite => Perm::UnitWrite,
            N::AssignmentWrite => Perm::AssignmentWrite,
            N::UserManage => Perm::UserManage,
            N::CatalogueManage => Perm::CatalogueManage,
            N::AuditRead => Perm::AuditRead,
            N::InvoiceCreate => Perm::InvoiceCreate,
        }
    }
}

impl PermissionName {
    pub fn from_permission(p: Perm) -> Option<PermissionName> {
        use PermissionName as N;
        [
            N::MemberRead,
            N::MemberWrite,
            N::MemberCreate,
            N::MemberDelete,
            N::BankRead,
            N::BankWrite,
            N::PaymentRead,
            N::PaymentWrite,
            N::AdmissionApprove,
            N::AdmissionApproveAdult,
            N::UnitReadFinance,
            N::UnitWrite,
            N::AssignmentWrite,
            N::UserManage,
            N::CatalogueManage,
            N::AuditRead,
            N::InvoiceCreate,
        ]
        .into_iter()
        .find(|n| Perm::from(*n) == p)
    }
}

/// Why a permission is held: the rule, and the assignment or group behind it.
#[derive(SimpleObject, Debug, Clone)]
pub struct AccessGrant {
    /// R2 (level group), R3 (tree group), R4 (global tree group), R7 (system group)
    /// or R17 (own record).
    pub rule: String,
    /// The permission group's key.
    pub group: Option<String>,
    pub assignment_id: Option<ID>,
    pub org_unit_id: Option<ID>,
    pub org_unit_name: Option<String>,
}

/// Why a permission is not held: the rule that denied it.
#[derive(SimpleObject, Debug, Clone)]
pub struct AccessDenial {
    pub rule: String,
    pub reason: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AccessExplanation {
    pub user_id: ID,
    pub granted: bool,
    pub grants: Vec<AccessGrant>,
    pub denials: Vec<AccessDenial>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AccessHolder {
    pub user_id: ID,
    pub username: String,
    pub grants: Vec<AccessGrant>,
}

pub(crate) fn grant_view(g: &explain::Grant) -> AccessGrant {
    AccessGrant {
        rule: g.rule.as_str().to_owned(),
        group: g.group_key.clone(),
        assignment_id: g.assignment_id.map(|a| id::encode(Kind::Assignment, a)),
        org_unit_id: g.unit_id.map(|u| id::encode(Kind::OrgUnit, u)),
        org_unit_name: g.unit_name.clone(),
    }
}

pub async fn explain_access(
    ctx: &Context<'_>,
    member_id: ID,
    permission: PermissionName,
    user_id: Option<ID>,
) -> async_graphql::Result<AccessExplanation> {
    let caller = signed_in(ctx)?;
    let member_raw = id::decode(&member_id, Kind::Member, "memberId")?;
    let subject =
        user_id.as_ref().map(|u| id::decode(u, Kind::User, "userId")).transpose()?.unwrap_or(caller);
    let req = request(ctx);
    let may_explain_others = explain::may_explain_others(&req.grants);
    if subject != caller && !may_explain_others {
        return Err(gql(ApiError::Forbidden(
            "explaining another user's access needs user.manage or audit.read".into(),
        )));
    }
    let conn = db(ctx)?;
    let authz = ctx.data::<Arc<Authz>>()?;
    let member = member::Entity::find_by_id(member_raw).one(conn).await.map_err(gql)?;
    let home = match &member {
        Some(m) => org_unit::Entity::find_by_id(m.home_unit_id).one(conn).await.map_err(gql)?,
        None => None,
    };
    let (Some(member), Some(home)) = (member, home) else { return Err(gql(ApiError::NotFound)) };
    // R11: the member must be visible to the caller, unless they audit or manage users.
    if !may_explain_others && !member_access(&req.grants, member.id, &home.path, &[]).visible {
        return Err(gql(ApiError::NotFound));
    }
    let Some(facts) = SubjectFacts::load(conn, subject).await.map_err(gql)? else {
        return Err(gql(ApiError::bad_input("userId", "no such user")));
    };
    let catalogue = authz.catalogue().await.map_err(gql)?;
    let target = Target { unit_path: &home.path, member_id: Some(member.id) };
    let explanation = explain::explain(&facts, &catalogue, req.today, &target, permission.into());
    let (granted, grants, denials) = match &explanation {
        Explanation::Granted(g) => (true, g.iter().map(grant_view).collect(), Vec::new()),
        Explanation::Denied(d) => (
            false,
            Vec::new(),
            d.iter().map(|d| AccessDenial { rule: d.rule().to_owned(), reason: d.describe() }).collect(),
        ),
    };
    Ok(AccessExplanation { user_id: id::encode(Kind::User, subject), granted, grants, denials })
}

pub async fn who_can_access(
    ctx: &Context<'_>,
    org_unit_id: ID,
    permission: PermissionName,
) -> async_graphql::Result<Vec<AccessHolder>> {
    signed_in(ctx)?;
    let req = request(ctx);
    if !explain::may_explain_others(&req.grants) {
        return Err(gql(ApiError::Forbidden(
            "listing who can access a unit needs user.manage or audit.read".into(),
        )));
    }
    let unit_raw = id::decode(&org_unit_id, Kind::OrgUnit, "orgUnitId")?;
    let conn = db(ctx)?;
    let Some(unit) = org_unit::Entity::find_by_id(unit_raw).one(conn).await.map_err(gql)? else {
        return Err(gql(ApiError::NotFound));
    };
    let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
    let holders = explain::who_can_access(conn, &catalogue, req.today, &unit.path, permission.into())
        .await
        .map_err(gql)?;
    Ok(holders
        .into_iter()
        .map(|(user, grants)| AccessHolder {
            user_id: id::encode(Kind::User, user.id),
            username: user.username,
            grants: grants.iter().map(grant_view).collect(),
        })
        .collect())
}
