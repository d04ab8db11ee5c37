//! `explainAccess` and `whoCanAccess`: every decision can be explained.
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::{db, request, signed_in};
use crate::authz::echo;
use crate::authz::explain::{self, Explanation, Target};
use crate::authz::facts::SubjectFacts;
use crate::authz::{Authz, Permission as Perm};
use crate::domain::members;
use async_graphql::{Context, Enum, ID, SimpleObject};
use entity::org_unit;
use sea_orm::EntityTrait;
use std::collections::HashSet;
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
    /// The unit of the office behind the grant; null when the caller does not see
    /// that unit (R14).
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

/// One grant as the caller may see it: the unit of the office behind it only when
/// the caller sees that unit (R14, R18); `visible_units` from `visible_units_of`.
pub(crate) fn grant_view(g: &explain::Grant, visible_units: &HashSet<i64>) -> AccessGrant {
    let unit = g.unit_id.filter(|u| visible_units.contains(u));
    AccessGrant {
        rule: g.rule.as_str().to_owned(),
        group: g.group_key.clone(),
        assignment_id: g.assignment_id.map(|a| id::encode(Kind::Assignment, a)),
        org_unit_id: unit.map(|u| id::encode(Kind::OrgUnit, u)),
        org_unit_name: unit.and(g.unit_name.clone()),
    }
}

/// The units named by `grants` that the caller sees (R14): one batched load.
pub(crate) async fn visible_units_of(
    ctx: &Context<'_>,
    grants: Vec<&explain::Grant>,
) -> async_graphql::Result<HashSet<i64>> {
    let ids: HashSet<i64> = grants.into_iter().filter_map(|g| g.unit_id).collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let caller = &request(ctx).grants;
    let units = ctx.data::<Loaders>()?.org_unit.load_many(ids).await.map_err(load_error)?;
    Ok(units.into_values().filter(|u| echo::may_name_unit(caller, u)).map(|u| u.id).collect())
}

/// `explainAccess`: about a member the caller may read (R11, R15, R17); any other
/// member id, existing or not, answers NOT_FOUND, whoever asks (R18).
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
    if subject != caller && !explain::may_explain_others(&req.grants) {
        return Err(gql(ApiError::Forbidden(
            "explaining another user's access needs user.manage or audit.read".into(),
        )));
    }
    // The connection is given back before the loaders are asked (`visible_units_of`).
    let (row, facts) = {
        let conn = &*db(ctx).await?;
        let row = members::find_visible(conn, &req.grants, member_raw).await.map_err(gql)?;
        let Some(row) = row.filter(|r| echo::may_explain_member(Some(&r.access))) else {
            return Err(gql(ApiError::NotFound));
        };
        let Some(facts) = SubjectFacts::load(conn, subject).await.map_err(gql)? else {
            return Err(gql(ApiError::bad_input("userId", "no such user")));
        };
        (row, facts)
    };
    let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
    let target = Target { unit_path: &row.home_path, member_id: Some(row.member.id) };
    let explanation = explain::explain(&facts, &catalogue, req.today, &target, permission.into());
    let (granted, grants, denials) = match &explanation {
        Explanation::Granted(g) => {
            let visible = visible_units_of(ctx, g.iter().collect()).await?;
            (true, g.iter().map(|g| grant_view(g, &visible)).collect(), Vec::new())
        }
        Explanation::Denied(d) => (
            false,
            Vec::new(),
            d.iter().map(|d| AccessDenial { rule: d.rule().to_owned(), reason: d.describe() }).collect(),
        ),
    };
    Ok(AccessExplanation { user_id: id::encode(Kind::User, subject), granted, grants, denials })
}

/// `whoCanAccess`: needs user.manage or audit.read, and a unit the caller sees
/// (R14: an invisible unit answers NOT_FOUND, like a missing one).
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
    // The connection is given back before the loaders are asked (`visible_units_of`).
    let holders = {
        let conn = &*db(ctx).await?;
        let unit = org_unit::Entity::find_by_id(unit_raw).one(conn).await.map_err(gql)?;
        let Some(unit) = unit.filter(|u| echo::may_name_unit(&req.grants, u)) else {
            return Err(gql(ApiError::NotFound));
        };
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        explain::who_can_access(conn, &catalogue, req.today, &unit.path, permission.into())
            .await
            .map_err(gql)?
    };
    let visible = visible_units_of(ctx, holders.iter().flat_map(|(_, g)| g.iter()).collect()).await?;
    Ok(holders
        .into_iter()
        .map(|(user, grants)| AccessHolder {
            user_id: id::encode(Kind::User, user.id),
            username: user.username,
            grants: grants.iter().map(|g| grant_view(g, &visible)).collect(),
        })
        .collect())
}
