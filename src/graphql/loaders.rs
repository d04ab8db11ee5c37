//! DataLoaders, created per request (so they can know the caller) and batching
//! every relation into one statement per round.
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{level, org_unit};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;

pub struct Loaders {
    pub level: DataLoader<LevelLoader>,
    pub org_unit: DataLoader<OrgUnitLoader>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            level: DataLoader::new(LevelLoader(db.clone()), tokio::spawn),
            org_unit: DataLoader::new(OrgUnitLoader(db.clone()), tokio::spawn),
        }
    }
}

pub struct LevelLoader(DatabaseConnection);

impl Loader<i64> for LevelLoader {
    type Value = level::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows =
            level::Entity::find().filter(level::Column::Id.is_in(keys.iter().copied())).all(&self.0).await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}

/// Loads units by id without any visibility check: callers apply R14 themselves.
pub struct OrgUnitLoader(DatabaseConnection);

impl Loader<i64> for OrgUnitLoader {
    type Value = org_unit::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = org_unit::Entity::find()
            .filter(org_unit::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r)).collect())
    }
}
