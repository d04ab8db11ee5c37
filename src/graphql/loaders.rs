//! DataLoaders, created per request so they know the caller, batching every relation
//! into one statement per round and caching per request. Every requested key gets
//! an answer (`None` or an empty list when there is nothing), so a key is never
//! loaded twice in a request. Lists prime these loaders for a whole page at once
//! (`member::prime_page`), which makes the statement count of a page independent of
//! its size.
use super::ConnectionGate;
use crate::authz::Grants;
use crate::db::statements::spawn_counted;
use crate::domain::members::{MemberRow, visible_rows};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{
    activity, activity_allowed_group, assignment, bank_account, level, member, org_unit, payment,
    sepa_mandate, user, user_system_group,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Iterable, PrimaryKeyToColumn, QueryFilter,
    QueryOrder,
};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

type Cached<T> = DataLoader<T, HashMapCache>;

pub struct Loaders {
    pub level: Cached<ById<level::Entity>>,
    /// Units by id without any visibility check: callers apply R14 themselves.
    pub org_unit: Cached<ById<org_unit::Entity>>,
    pub activity: Cached<ById<activity::Entity>>,
    pub user: Cached<ById<user::Entity>>,
    /// Members by id, only those the caller may see (R11, R15, R17), with the
    /// caller's access to each.
    pub member: Cached<MemberLoader>,
    /// Raw relations of a member: resolvers check the caller's access first (R12).
    pub bank_account: Cached<OneBy<bank_account::Entity>>,
    pub sepa_mandates: Cached<ListBy<sepa_mandate::Entity>>,
    pub payments: Cached<ListBy<payment::Entity>>,
    pub assignments_by_member: Cached<ListBy<assignment::Entity>>,
    /// The offices held at a unit, by unit id (callers apply visibility).
    pub assignments_by_unit: Cached<ListBy<assignment::Entity>>,
    /// A user's system groups, by user id.
    pub system_groups: Cached<ListBy<user_system_group::Entity>>,
    /// The groups an activity allows (R9), by activity id.
    pub allowed_groups: Cached<ListBy<activity_allowed_group::Entity>>,
    /// The user of a member (member users), by member id.
    pub user_by_member: Cached<OneBy<user::Entity>>,
}

/// Batches run on their own tasks, counted against the request, each holding one
/// of the request's connection permits while it runs.
fn cached<T: Loader<i64>>(gate: &Option<ConnectionGate>, loader: T) -> Cached<T> {
    let gate = gate.clone();
    let spawner = move |batch: async_graphql::futures_util::future::BoxFuture<'static, ()>| {
        let gate = gate.clone();
        spawn_counted(async move {
            let _permit = match &gate {
                Some(gate) => gate.enter_owned().await,
                None => None,
            };
            batch.await;
        })
    };
    DataLoader::with_cache(loader, spawner, HashMapCache::default())
        .delay(Duration::from_millis(2))
        .max_batch_size(2_000)
}

impl Loaders {
    /// Loaders whose batches may use any number of connections (tools and tests).
    pub fn new(db: &DatabaseConnection, grants: Arc<Grants>) -> Self {
        Self::build(db, grants, None)
    }

    /// Loaders of a request: batches share the request's connection permits.
    pub fn gated(db: &DatabaseConnection, grants: Arc<Grants>, gate: &ConnectionGate) -> Self {
        Self::build(db, grants, Some(gate.clone()))
    }

    fn build(db: &DatabaseConnection, grants: Arc<Grants>, gate: Option<ConnectionGate>) -> Self {
        Self {
            level: cached(&gate, ById::new(db)),
            org_unit: cached(&gate, ById::new(db)),
            activity: cached(&gate, ById::new(db)),
            user: cached(&gate, ById::new(db)),
            member: cached(&gate, MemberLoader { db: db.clone(), grants }),
            bank_account: cached(
                &gate,
                OneBy::new(db, bank_account::Column::MemberId, |b: &bank_account::Model| Some(b.member_id)),
            ),
            sepa_mandates: cached(
                &gate,
                ListBy::new(db, sepa_mandate::Column::MemberId, |m: &sepa_mandate::Model| m.member_id),
            ),
            payments: cached(
                &gate,
                ListBy::new(db, payment::Column::MemberId, |p: &payment::Model| p.member_id),
            ),
            assignments_by_member: cached(
                &gate,
                ListBy::new(db, assignment::Column::MemberId, |a: &assignment::Model| a.member_id),
            ),
            assignments_by_unit: cached(
                &gate,
                ListBy::new(db, assignment::Column::OrgUnitId, |a: &assignment::Model| a.org_unit_id),
            ),
            system_groups: cached(
                &gate,
                ListBy::new(db, user_system_group::Column::UserId, |g: &user_system_group::Model| g.user_id),
            ),
            allowed_groups: cached(
                &gate,
                ListBy::new(
                    db,
                    activity_allowed_group::Column::ActivityId,
                    |g: &activity_allowed_group::Model| g.activity_id,
                ),
            ),
            user_by_member: cached(
                &gate,
                OneBy::new(db, user::Column::MemberId, |u: &user::Model| u.member_id),
            ),
        }
    }
}

/// A loader's error: cloneable, as DataLoader hands it to every waiting key.
pub type LoadError = Arc<DbErr>;

/// Rows by their `i64` primary key.
pub struct ById<E> {
    db: DatabaseConnection,
    _entity: PhantomData<fn() -> E>,
}

impl<E> ById<E> {
    fn new(db: &DatabaseConnection) -> Self {
        Self { db: db.clone(), _entity: PhantomData }
    }
}

fn primary_key_column<E: EntityTrait>() -> Option<E::Column> {
    E::PrimaryKey::iter().next().map(|pk| pk.into_column())
}

impl<E> Loader<i64> for ById<E>
where
    E: EntityTrait,
    E::Model: HasId + Send + Sync + Clone + 'static,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, E::Model>, LoadError> {
        let Some(pk) = primary_key_column::<E>() else { return Ok(HashMap::new()) };
        let rows = E::find().filter(pk.is_in(keys.iter().copied())).all(&self.db).await?;
        Ok(rows.into_iter().map(|r| (r.id(), r)).collect())
    }
}

/// The `i64` id of a row (primary key, or the member id for 1:1 member rows).
pub trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($entity:ident . $field:ident),+ $(,)?) => {
        $(impl HasId for $entity::Model {
            fn id(&self) -> i64 { self.$field }
        })+
    };
}

has_id!(level.id, org_unit.id, activity.id, user.id, assignment.id, sepa_mandate.id, payment.id);

/// The row a key points to (1:1, e.g. a member's bank account), or `None`, for
/// every requested key.
pub struct OneBy<E: EntityTrait> {
    db: DatabaseConnection,
    column: E::Column,
    key: fn(&E::Model) -> Option<i64>,
}

impl<E: EntityTrait> OneBy<E> {
    fn new(db: &DatabaseConnection, column: E::Column, key: fn(&E::Model) -> Option<i64>) -> Self {
        Self { db: db.clone(), column, key }
    }
}

impl<E> Loader<i64> for OneBy<E>
where
    E: EntityTrait,
    E::Column: Send + Sync,
    E::Model: Send + Sync + Clone + 'static,
{
    type Value = Option<E::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Option<E::Model>>, LoadError> {
        let mut out: HashMap<i64, Option<E::Model>> = keys.iter().map(|k| (*k, None)).collect();
        for row in E::find().filter(self.column.is_in(keys.iter().copied())).all(&self.db).await? {
            if let Some(k) = (self.key)(&row) {
                out.insert(k, Some(row));
            }
        }
        Ok(out)
    }
}

/// The rows a key points to (1:n, e.g. a member's payments), in primary-key order,
/// for every requested key (empty when none).
pub struct ListBy<E: EntityTrait> {
    db: DatabaseConnection,
    column: E::Column,
    key: fn(&E::Model) -> i64,
}

impl<E: EntityTrait> ListBy<E> {
    fn new(db: &DatabaseConnection, column: E::Column, key: fn(&E::Model) -> i64) -> Self {
        Self { db: db.clone(), column, key }
    }
}

impl<E> Loader<i64> for ListBy<E>
where
    E: EntityTrait,
    E::Column: Send + Sync,
    E::Model: Send + Sync + Clone + 'static,
{
    type Value = Vec<E::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<E::Model>>, LoadError> {
        let mut out: HashMap<i64, Vec<E::Model>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        let mut query = E::find().filter(self.column.is_in(keys.iter().copied()));
        if let Some(pk) = primary_key_column::<E>() {
            query = query.order_by_asc(pk);
        }
        for row in query.all(&self.db).await? {
            out.entry((self.key)(&row)).or_default().push(row);
        }
        Ok(out)
    }
}

/// Members by id, filtered by the caller's visibility in the same statement (R11,
/// R16); an invisible or missing member is `None`, indistinguishably.
pub struct MemberLoader {
    db: DatabaseConnection,
    grants: Arc<Grants>,
}

impl Loader<i64> for MemberLoader {
    type Value = Option<MemberRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Option<MemberRow>>, LoadError> {
        let mut out: HashMap<i64, Option<MemberRow>> = keys.iter().map(|k| (*k, None)).collect();
        let select = member::Entity::find().filter(member::Column::Id.is_in(keys.iter().copied()));
        for row in visible_rows(&self.db, &self.grants, select).await? {
            out.insert(row.member.id, Some(row));
        }
        Ok(out)
    }
}

/// A loader's error as a GraphQL error (logged, never shown).
pub fn load_error(e: LoadError) -> async_graphql::Error {
    super::error::gql(super::error::ApiError::from((*e).clone()))
}
