//! Everything the rules need to know about one user, loaded in a constant number of
//! statements (user, member, assignments with their unit paths, system groups).
use entity::{assignment, member, org_unit, user, user_system_group};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct AssignmentFact {
    pub assignment: assignment::Model,
    /// Materialized path of the assignment's unit.
    pub unit_path: String,
    pub unit_name: String,
}

#[derive(Debug, Clone)]
pub struct SubjectFacts {
    pub user: user::Model,
    pub member: Option<member::Model>,
    pub assignments: Vec<AssignmentFact>,
    pub system_group_ids: Vec<i64>,
}

impl SubjectFacts {
    /// None when the user does not exist.
    pub async fn load<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Option<Self>, DbErr> {
        let Some(user) = user::Entity::find_by_id(user_id).one(conn).await? else {
            return Ok(None);
        };
        let system_group_ids = user_system_group::Entity::find()
            .filter(user_system_group::Column::UserId.eq(user_id))
            .all(conn)
            .await?
            .into_iter()
            .map(|g| g.permission_group_id)
            .collect();
        let (member, assignments) = match user.member_id {
            Some(member_id) => {
                let member = member::Entity::find_by_id(member_id).one(conn).await?;
                let rows = assignment::Entity::find()
                    .filter(assignment::Column::MemberId.eq(member_id))
                    .all(conn)
                    .await?;
                let unit_ids: Vec<i64> = rows.iter().map(|a| a.org_unit_id).collect();
                let units: HashMap<i64, org_unit::Model> = org_unit::Entity::find()
                    .filter(org_unit::Column::Id.is_in(unit_ids))
                    .all(conn)
                    .await?
                    .into_iter()
                    .map(|u| (u.id, u))
                    .collect();
                let assignments = rows
                    .into_iter()
                    .filter_map(|a| {
                        let unit = units.get(&a.org_unit_id)?;
                        Some(AssignmentFact {
                            unit_path: unit.path.clone(),
                            unit_name: unit.name.clone(),
                            assignment: a,
                        })
                    })
                    .collect();
                (member, assignments)
            }
            None => (None, Vec::new()),
        };
        Ok(Some(Self { user, member, assignments, system_group_ids }))
    }
}
