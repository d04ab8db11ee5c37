//! A snapshot of the permission groups and their permissions, loaded once and
//! shared until the catalogue changes.
use super::permission::{PermSet, Permission};
use entity::{GroupKind, permission_group, permission_group_permission};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: GroupKind,
    pub permissions: PermSet,
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    groups: HashMap<i64, GroupInfo>,
}

impl Catalogue {
    pub fn new(groups: impl IntoIterator<Item = GroupInfo>) -> Self {
        Self { groups: groups.into_iter().map(|g| (g.id, g)).collect() }
    }

    pub async fn load<C: ConnectionTrait>(conn: &C) -> Result<Self, DbErr> {
        let groups = permission_group::Entity::find().all(conn).await?;
        let lines = permission_group_permission::Entity::find().all(conn).await?;
        let mut perms: HashMap<i64, PermSet> = HashMap::new();
        for line in lines {
            // Unknown permission names (from a newer version) grant nothing.
            if let Ok(p) = line.permission.parse::<Permission>() {
                *perms.entry(line.permission_group_id).or_default() |= PermSet::of(p);
            }
        }
        Ok(Self::new(groups.into_iter().map(|g| GroupInfo {
            permissions: perms.get(&g.id).copied().unwrap_or_default(),
            id: g.id,
            key: g.key,
            name: g.name,
            description: g.description,
            kind: g.kind,
        })))
    }

    pub fn group(&self, id: i64) -> Option<&GroupInfo> {
        self.groups.get(&id)
    }

    pub fn by_key(&self, key: &str) -> Option<&GroupInfo> {
        self.groups.values().find(|g| g.key == key)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupInfo> {
        self.groups.values()
    }
}
