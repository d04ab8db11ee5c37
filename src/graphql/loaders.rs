//! DataLoaders, created per request so they know the caller, batching every relation
//! into one statement per round and caching per request. Every requested key gets
//! an answer (`None` or an empty list when there is nothing), so a key is never
//! loaded twice in a request. Lists prime these loaders for a whole page at once
//! (`member::prime_page`), which makes the statement count of a page independent of
//! its size.
use crate::authz::Grants;
use crate::db::statements::spawn_counted;
use crate::domain::members::{MemberRow, visible_rows};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{activity, assignment, bank_account, level, member, org_unit, payment, sepa_mandate, user};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Iterable, PrimaryKeyToColumn, QueryFilter, QueryOrder,
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
    pub bank_account: Cached<ByMember<bank_account::Entity>>,
    pub sepa_mandates: Cached<ListByMember<sepa_mandate::Entity>>,
    pub payments: Cached<ListByMember<payment::Entity>>,
    pub assignments_by_member: Cached<ListByMember<assignment::Entity>>,
    /// The user of a member (member users), by member id.
    pub user_by_member: Cached<ByMember<user::Entity>>,
}

fn cached<T: Loader<i64>>(loader: T) -> Cached<T> {
    DataLoader::with_cache(loader, spawn_counted, HashMapCache::default())
        .delay(Duration::from_millis(2))
        .max_batch_size(2_000)
}

impl Loaders {
    pub fn new(db: &DatabaseConnection, grants: Arc<Grants>) -> Self {
        Self {
            level: cached(ById::new(db)),
            org_unit: cached(ById::new(db)),
            activity: cached(ById::new(db)),
            user: cached(ById::new(db)),
            member: cached(MemberLoader { db: db.clone(), grants }),
            bank_account: cached(ByMember::new(db, bank_account::Column::MemberId)),
            sepa_mandates: cached(ListByMember::new(db, sepa_mandate::Column::MemberId)),
            payments: cached(ListByMember::new(db, payment::Column::MemberId)),
            assignments_by_member: cached(ListByMember::new(db, assignment::Column::MemberId)),
            user_by_member: cached(ByMember::new(db, user::Column::MemberId)),
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

/// The row belonging to a member (1:1), or `None`, for every requested member.
pub struct ByMember<E: EntityTrait> {
    db: DatabaseConnection,
    column: E::Column,
}

impl<E: EntityTrait> ByMember<E> {
    fn new(db: &DatabaseConnection, column: E::Column) -> Self {
        Self { db: db.clone(), column }
    }
}

/// The member a row belongs to.
pub trait OfMember {
    fn member_id(&self) -> Option<i64>;
}

macro_rules! of_member {
    ($($entity:ident),+ $(,)?) => {
        $(impl OfMember for $entity::Model {
            fn member_id(&self) -> Option<i64> { Some(self.member_id) }
        })+
    };
}

of_member!(bank_account, sepa_mandate, payment, assignment);

impl OfMember for user::Model {
    fn member_id(&self) -> Option<i64> {
        self.member_id
    }
}

impl<E> Loader<i64> for ByMember<E>
where
    E: EntityTrait,
    E::Column: Send + Sync,
    E::Model: OfMember + Send + Sync + Clone + 'static,
{
    type Value = Option<E::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Option<E::Model>>, LoadError> {
        let mut out: HashMap<i64, Option<E::Model>> = keys.iter().map(|k| (*k, None)).collect();
        for row in E::find().filter(self.column.is_in(keys.iter().copied())).all(&self.db).await? {
            if let Some(m) = row.member_id() {
                out.insert(m, Some(row));
            }
        }
        Ok(out)
    }
}

/// The rows belonging to a member (1:n), in primary-key order, for every requested
/// member (empty when none).
pub struct ListByMember<E: EntityTrait> {
    db: DatabaseConnection,
    column: E::Column,
}

impl<E: EntityTrait> ListByMember<E> {
    fn new(db: &DatabaseConnection, column: E::Column) -> Self {
        Self { db: db.clone(), column }
    }
}

impl<E> Loader<i64> for ListByMember<E>
where
    E: EntityTrait,
    E::Column: Send + Sync,
    E::Model: OfMember + Send + Sync + Clone + 'static,
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
            if let Some(m) = row.member_id() {
                out.entry(m).or_default().push(row);
            }
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
