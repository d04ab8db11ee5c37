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
    /// The facts of many users in five statements, whatever their number.
    pub async fn load_many<C: ConnectionTrait>(conn: &C, user_ids: &[i64]) -> Result<Vec<Self>, DbErr> {
        let users =
            user::Entity::find().filter(user::Column::Id.is_in(user_ids.iter().copied())).all(conn).await?;
        let member_ids: Vec<i64> = users.iter().filter_map(|u| u.member_id).collect();
        let mut members: HashMap<i64, member::Model> = member::Entity::find()
            .filter(member::Column::Id.is_in(member_ids.iter().copied()))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let assignments = assignment::Entity::find()
            .filter(assignment::Column::MemberId.is_in(member_ids.iter().copied()))
            .all(conn)
            .await?;
        let unit_ids: Vec<i64> = assignments.iter().map(|a| a.org_unit_id).collect();
        let units: HashMap<i64, org_unit::Model> = org_unit::Entity::find()
            .filter(org_unit::Column::Id.is_in(unit_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let mut by_member: HashMap<i64, Vec<AssignmentFact>> = HashMap::new();
        for a in assignments {
            if let Some(unit) = units.get(&a.org_unit_id) {
                by_member.entry(a.member_id).or_default().push(AssignmentFact {
                    unit_path: unit.path.clone(),
                    unit_name: unit.name.clone(),
                    assignment: a,
                });
            }
        }
        let mut system: HashMap<i64, Vec<i64>> = HashMap::new();
        for g in user_system_group::Entity::find()
            .filter(user_system_group::Column::UserId.is_in(user_ids.iter().copied()))
            .all(conn)
            .await?
        {
            system.entry(g.user_id).or_default().push(g.permission_group_id);
        }
        Ok(users
            .into_iter()
            .map(|user| {
                let member = user.member_id.and_then(|id| members.remove(&id));
                let assignments = user.member_id.and_then(|id| by_member.remove(&id)).unwrap_or_default();
                let system_group_ids = system.remove(&user.id).unwrap_or_default();
                SubjectFacts { user, member, assignments, system_group_ids }
            })
            .collect())
    }

    /// None when the user does not exist.
    pub async fn load<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Option<Self>, DbErr> {
        Ok(Self::load_many(conn, &[user_id]).await?.into_iter().next())
    }
}
