//! Demo and synthetic data. Rows get explicit ids (so a unit's path is known before
//! it is written) and go in as multi-row INSERTs in chunks sized to stay under both
//! backends' bind-parameter limits.
pub mod demo;
pub mod fake;
pub mod generate;
pub mod synthetic;

use crate::domain::DomainError;
use entity::{assignment, bank_account, member, org_unit, payment, sepa_mandate, user, user_system_group};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseBackend, EntityTrait, Iterable, PaginatorTrait};

/// At most this many bind parameters per statement (SQLite allows 32766, PostgreSQL
/// 65535).
const MAX_PARAMS: usize = 30_000;

/// Rows to write, in foreign-key order.
#[derive(Default)]
pub struct Rows {
    pub units: Vec<org_unit::ActiveModel>,
    pub members: Vec<member::ActiveModel>,
    pub bank_accounts: Vec<bank_account::ActiveModel>,
    pub mandates: Vec<sepa_mandate::ActiveModel>,
    pub payments: Vec<payment::ActiveModel>,
    pub users: Vec<user::ActiveModel>,
    pub user_system_groups: Vec<user_system_group::ActiveModel>,
    pub assignments: Vec<assignment::ActiveModel>,
}

impl Rows {
    pub async fn write<C: ConnectionTrait>(self, conn: &C) -> Result<(), DomainError> {
        insert_chunked::<org_unit::Entity, _>(conn, self.units).await?;
        insert_chunked::<member::Entity, _>(conn, self.members).await?;
        insert_chunked::<bank_account::Entity, _>(conn, self.bank_accounts).await?;
        insert_chunked::<sepa_mandate::Entity, _>(conn, self.mandates).await?;
        insert_chunked::<payment::Entity, _>(conn, self.payments).await?;
        insert_chunked::<user::Entity, _>(conn, self.users).await?;
        insert_chunked::<user_system_group::Entity, _>(conn, self.user_system_groups).await?;
        insert_chunked::<assignment::Entity, _>(conn, self.assignments).await?;
        Ok(())
    }
}

async fn insert_chunked<E, C>(conn: &C, rows: Vec<E::ActiveModel>) -> Result<(), DomainError>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    C: ConnectionTrait,
{
    let per_statement = (MAX_PARAMS / E::Column::iter().count()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(per_statement).collect();
        E::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// The next free id of each table written with explicit ids.
#[derive(Debug, Clone, Copy)]
pub struct NextIds {
    pub unit: i64,
    pub member: i64,
    pub mandate: i64,
    pub payment: i64,
    pub user: i64,
    pub assignment: i64,
}

impl NextIds {
    pub async fn load<C: ConnectionTrait>(conn: &C) -> Result<Self, DomainError> {
        Ok(Self {
            unit: next_id(conn, "org_unit").await?,
            member: next_id(conn, "member").await?,
            mandate: next_id(conn, "sepa_mandate").await?,
            payment: next_id(conn, "payment").await?,
            user: next_id(conn, "app_user").await?,
            assignment: next_id(conn, "assignment").await?,
        })
    }
}

async fn next_id<C: ConnectionTrait>(conn: &C, table: &'static str) -> Result<i64, DomainError> {
    let stmt = Query::select()
        .expr_as(Func::coalesce([Expr::col("id").max(), Expr::val(0i64)]), "m")
        .from(table)
        .take();
    let row = conn.query_one(&stmt).await?;
    let max: i64 = match row {
        Some(r) => r.try_get("", "m")?,
        None => 0,
    };
    Ok(max + 1)
}

/// After rows with explicit ids, PostgreSQL's sequences must move past them.
/// (SQLite's AUTOINCREMENT follows the largest id by itself.)
pub async fn reset_sequences<C: ConnectionTrait>(conn: &C) -> Result<(), DomainError> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for table in ["org_unit", "member", "sepa_mandate", "payment", "app_user", "assignment"] {
        conn.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}

/// Seeding builds a tree; it needs an empty one.
pub async fn ensure_empty_tree<C: ConnectionTrait>(conn: &C) -> Result<(), DomainError> {
    if org_unit::Entity::find().count(conn).await? > 0 {
        return Err(DomainError::Conflict(
            "the database already has an organisation tree; seed into an empty database".into(),
        ));
    }
    Ok(())
}

/// Hands out `n` membership numbers atomically (`UPDATE … RETURNING`); returns the
/// first.
pub async fn allocate_membership_numbers<C: ConnectionTrait>(conn: &C, n: i64) -> Result<i64, DomainError> {
    use entity::counter;
    let stmt = Query::update()
        .table(counter::Entity)
        .value(counter::Column::Value, Expr::col(counter::Column::Value).add(n))
        .and_where(Expr::col(counter::Column::Name).eq(counter::MEMBERSHIP_NUMBER))
        .returning_col(counter::Column::Value)
        .take();
    let row = conn
        .query_one(&stmt)
        .await?
        .ok_or_else(|| DomainError::Internal("membership number counter missing".into()))?;
    let last: i64 = row.try_get("", "value")?;
    Ok(last - n + 1)
}
