//! Members under the rules: reading them (R11, R15, R17 in the statement itself) and
//! changing them (R13, R17), each change with its audit record in one transaction.
use crate::authz::Grants;
use crate::authz::Permission;
use crate::authz::members::{MemberAccess, member_access, visible_members};
use entity::{TransferStatus, member, org_unit, transfer};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Select};
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
/// one for pending transfers when the caller could read through one (R15).
pub async fn visible_rows<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    select: Select<member::Entity>,
) -> Result<Vec<MemberRow>, DbErr> {
    let rows = select.filter(visible_members(grants)).find_also_related(org_unit::Entity).all(conn).await?;
    let pending = if grants.holds_anywhere(Permission::MemberWrite) && !rows.is_empty() {
        pending_destinations(conn, rows.iter().map(|(m, _)| m.id)).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .filter_map(|(member, unit)| {
            let home_path = unit?.path;
            let to: Vec<&str> =
                pending.get(&member.id).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
            let access = member_access(grants, member.id, &home_path, &to);
            // The SQL condition and the row check agree (R16); a row the check
            // refuses is dropped all the same.
            access.visible.then_some(MemberRow { member, home_path, access })
        })
        .collect())
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
            Expr::col((org_unit::Entity, org_unit::Column::Id)).equals((transfer::Entity, transfer::Column::ToUnitId)),
        )
        .and_where(Expr::col((transfer::Entity, transfer::Column::Status)).eq(TransferStatus::Pending.as_str()))
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
