//! `Member` and its relations under R11, R12, R15, R16, R17; the member queries and
//! mutations. A `Member` object exists only for a row the caller may see (it is
//! built from a `MemberRow`, which only the visibility-filtered reads produce); its
//! fields then ask the row's access, and a withheld field is null and listed in
//! `extensions.redacted`.
use super::access::{AccessHolder, PermissionName, grant_view, visible_units_of};
use super::assignment::Assignment;
use super::connection::{PageInfo, page_size};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::not_null;
use super::org_unit::OrgUnit;
use super::redaction::{BankReads, bank_read, redact};
use super::scalars::{Date, DateTime};
use super::{db, request, signed_in};
use crate::authz::explain::who_can_access;
use crate::authz::units::can_see_unit;
use crate::authz::{Authz, Invalidate, PermSet, Permission};
use crate::domain::members::{self as domain, MemberRow, rows_with_access, visible_select};
use async_graphql::{
    Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject, dataloader::DataLoader,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use entity::{bank_account, member, org_unit, payment, sepa_mandate};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "MemberStatus")]
pub enum MemberStatus {
    Applicant,
    Active,
    Inactive,
    Left,
}

impl From<entity::MemberStatus> for MemberStatus {
    fn from(s: entity::MemberStatus) -> Self {
        match s {
            entity::MemberStatus::Applicant => Self::Applicant,
            entity::MemberStatus::Active => Self::Active,
            entity::MemberStatus::Inactive => Self::Inactive,
            entity::MemberStatus::Left => Self::Left,
        }
    }
}

impl From<MemberStatus> for entity::MemberStatus {
    fn from(s: MemberStatus) -> Self {
        match s {
            MemberStatus::Applicant => Self::Applicant,
            MemberStatus::Active => Self::Active,
            MemberStatus::Inactive => Self::Inactive,
            MemberStatus::Left => Self::Left,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "MandateStatus")]
pub enum MandateStatus {
    Active,
    Revoked,
    Expired,
}

impl From<entity::MandateStatus> for MandateStatus {
    fn from(s: entity::MandateStatus) -> Self {
        match s {
            entity::MandateStatus::Active => Self::Active,
            entity::MandateStatus::Revoked => Self::Revoked,
            entity::MandateStatus::Expired => Self::Expired,
        }
    }
}

/// A postal address.
#[derive(SimpleObject, Debug, Clone)]
pub struct Address {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// A member's bank account; readable with bank.read only (R12).
#[derive(SimpleObject, Debug, Clone)]
pub struct BankAccount {
    /// Electronic format, without spaces.
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
}

impl From<bank_account::Model> for BankAccount {
    fn from(b: bank_account::Model) -> Self {
        Self { iban: b.iban, bic: b.bic, account_holder: b.account_holder }
    }
}

/// A SEPA direct-debit mandate; readable with bank.read only (R12).
#[derive(SimpleObject, Debug, Clone)]
pub struct SepaMandate {
    pub id: ID,
    pub reference: String,
    pub signed_on: Date,
    pub iban: String,
    pub status: MandateStatus,
}

impl From<sepa_mandate::Model> for SepaMandate {
    fn from(m: sepa_mandate::Model) -> Self {
        Self {
            id: id::encode(Kind::SepaMandate, m.id),
            reference: m.reference,
            signed_on: Date(m.signed_on),
            iban: m.iban,
            status: m.status.into(),
        }
    }
}

/// A membership-fee payment (Beitragseingang); readable with payment.read (R12).
#[derive(SimpleObject, Debug, Clone)]
pub struct Payment {
    pub id: ID,
    /// In the currency's minor unit (cents).
    pub amount_cents: i64,
    /// ISO 4217, e.g. EUR.
    pub currency: String,
    pub paid_on: Date,
    pub period_from: Option<Date>,
    pub period_to: Option<Date>,
    pub note: Option<String>,
}

impl From<payment::Model> for Payment {
    fn from(p: payment::Model) -> Self {
        Self {
            id: id::encode(Kind::Payment, p.id),
            amount_cents: p.amount_cents,
            currency: p.currency,
            paid_on: Date(p.paid_on),
            period_from: p.period_from.map(Date),
            period_to: p.period_to.map(Date),
            note: p.note,
        }
    }
}

/// Who holds a permission on a member, and through which assignment or group.
#[derive(SimpleObject, Debug, Clone)]
pub struct MemberAccessors {
    pub permission: PermissionName,
    pub holders: Vec<AccessHolder>,
}

/// The permissions in a set, as the API names them, in a stable order.
pub fn permission_names(set: PermSet) -> Vec<PermissionName> {
    set.iter().filter_map(PermissionName::from_permission).collect()
}

/// A person with a membership (Mitglied), as the caller may see it.
#[derive(Debug, Clone)]
pub struct Member(pub MemberRow);

impl Member {
    fn m(&self) -> &member::Model {
        &self.0.member
    }
}

#[Object]
impl Member {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Member, self.m().id)
    }

    /// The external identifier users search by.
    async fn membership_number(&self) -> &str {
        &self.m().membership_number
    }

    async fn first_name(&self) -> &str {
        &self.m().first_name
    }

    async fn last_name(&self) -> &str {
        &self.m().last_name
    }

    /// The unit the member belongs to; null when the caller may not see that unit
    /// (R14: a HIDDEN unit needs unit.write, member.write or member.create there).
    async fn home_unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        let loaders = ctx.data::<Loaders>()?;
        let unit = loaders.org_unit.load_one(self.m().home_unit_id).await.map_err(load_error)?;
        Ok(unit.filter(|u| can_see_unit(&request(ctx).grants, u)).map(OrgUnit))
    }

    async fn status(&self) -> MemberStatus {
        self.m().status.into()
    }

    async fn birth_date(&self) -> Option<Date> {
        self.m().birth_date.map(Date)
    }

    async fn gender(&self) -> Option<&str> {
        self.m().gender.as_deref()
    }

    async fn email(&self) -> Option<&str> {
        self.m().email.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.m().phone.as_deref()
    }

    async fn address(&self) -> Address {
        let m = self.m();
        Address {
            street: m.street.clone(),
            postal_code: m.postal_code.clone(),
            city: m.city.clone(),
            country: m.country.clone(),
        }
    }

    async fn joined_on(&self) -> Option<Date> {
        self.m().joined_on.map(Date)
    }

    async fn left_on(&self) -> Option<Date> {
        self.m().left_on.map(Date)
    }

    async fn voting_rights(&self) -> bool {
        self.m().voting_rights
    }

    async fn tags(&self) -> Vec<String> {
        self.m()
            .tags
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Kept until this day after leaving (tax law); anonymized after it.
    async fn retention_until(&self) -> Option<Date> {
        self.m().retention_until.map(Date)
    }

    /// When the record was anonymized after retention (names and contact data
    /// blanked, bank data deleted); null while it is kept.
    async fn anonymized_at(&self) -> Option<DateTime> {
        self.m().anonymized_at.map(DateTime)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.m().created_at)
    }

    async fn updated_at(&self) -> DateTime {
        DateTime(self.m().updated_at)
    }

    /// The offices the member holds or held (Tätigkeitszuordnungen), oldest first.
    async fn assignments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Assignment>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = loaders.assignments_by_member.load_one(self.m().id).await.map_err(load_error)?;
        Ok(rows.unwrap_or_default().into_iter().map(Assignment).collect())
    }

    /// Needs bank.read on the member (R12); null and listed in
    /// `extensions.redacted` otherwise.
    async fn bank_account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BankAccount>> {
        if !self.0.access.bank() {
            redact(ctx, Permission::BankRead);
            return Ok(None);
        }
        let loaders = ctx.data::<Loaders>()?;
        let account = loaders.bank_account.load_one(self.m().id).await.map_err(load_error)?.flatten();
        if account.is_some() && !self.0.access.is_self {
            bank_read(ctx, self.m().id);
        }
        Ok(account.map(BankAccount::from))
    }

    /// Needs bank.read on the member (R12); null and listed in
    /// `extensions.redacted` otherwise.
    async fn sepa_mandates(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<SepaMandate>>> {
        if !self.0.access.bank() {
            redact(ctx, Permission::BankRead);
            return Ok(None);
        }
        let loaders = ctx.data::<Loaders>()?;
        let rows = loaders.sepa_mandates.load_one(self.m().id).await.map_err(load_error)?.unwrap_or_default();
        if !rows.is_empty() && !self.0.access.is_self {
            bank_read(ctx, self.m().id);
        }
        Ok(Some(rows.into_iter().map(SepaMandate::from).collect()))
    }

    /// Needs payment.read on the member (R12); null and listed in
    /// `extensions.redacted` otherwise.
    async fn payments(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<Payment>>> {
        if !self.0.access.payments() {
            redact(ctx, Permission::PaymentRead);
            return Ok(None);
        }
        let loaders = ctx.data::<Loaders>()?;
        let rows = loaders.payments.load_one(self.m().id).await.map_err(load_error)?;
        Ok(Some(rows.unwrap_or_default().into_iter().map(Payment::from).collect()))
    }

    /// What the caller holds on this member (at its home unit, R1; on their own
    /// record R17; through a pending transfer R15), so a front end can offer exactly
    /// the actions that will succeed.
    async fn viewer_permissions(&self) -> Vec<PermissionName> {
        // The same set the fields above are decided by.
        permission_names(self.0.access.permissions)
    }

    /// Who can see this member ("who can see me"): everyone holding member.read or
    /// bank.read on it, and through which assignment or group. For the member
    /// themselves or a holder of member.write on them; null and listed in
    /// `extensions.redacted` otherwise.
    #[graphql(complexity = 50)]
    async fn accessible_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<MemberAccessors>>> {
        let req = request(ctx);
        if !(self.0.access.is_self || req.grants.holds_at(Permission::MemberWrite, &self.0.home_path)) {
            redact(ctx, Permission::MemberWrite);
            return Ok(None);
        }
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        let mut found = Vec::new();
        {
            // Given back before the loaders are asked (`visible_units_of`).
            let conn = &*db(ctx).await?;
            for permission in [Permission::MemberRead, Permission::BankRead] {
                let holders = who_can_access(conn, &catalogue, req.today, &self.0.home_path, permission)
                    .await
                    .map_err(gql)?;
                found.push((permission, holders));
            }
        }
        let named: Vec<&crate::authz::explain::Grant> =
            found.iter().flat_map(|(_, h)| h.iter()).flat_map(|(_, g)| g.iter()).collect();
        let visible = visible_units_of(ctx, named).await?;
        let mut out = Vec::new();
        for (permission, holders) in found {
            let holders = holders
                .into_iter()
                .map(|(user, grants)| AccessHolder {
                    user_id: id::encode(Kind::User, user.id),
                    username: user.username,
                    grants: grants.iter().map(|g| grant_view(g, &visible)).collect(),
                })
                .collect();
            if let Some(name) = PermissionName::from_permission(permission) {
                out.push(MemberAccessors { permission: name, holders });
            }
        }
        Ok(Some(out))
    }
}

/// One member the caller may see; null for missing and invisible alike (R11).
pub async fn find_visible(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Member>> {
    let loaders = ctx.data::<Loaders>()?;
    Ok(loaders.member.load_one(raw_id).await.map_err(load_error)?.flatten().map(Member))
}

// ---------------------------------------------------------------------------
// Lists

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum MemberOrder {
    /// Last name, first name (then id).
    #[default]
    Name,
    MembershipNumber,
}

/// Which members to list. Every filter works inside what the caller may see (R16),
/// and only on fields they may read (member.read fields).
#[derive(InputObject, Debug, Clone, Default)]
pub struct MemberFilter {
    /// Members whose home unit is this unit…
    pub org_unit_id: Option<ID>,
    /// …or any unit below it.
    #[graphql(default = false)]
    pub include_descendants: bool,
    pub status: Option<Vec<MemberStatus>>,
    /// Words that must each appear in the first or last name, the membership
    /// number or the e-mail address (case-insensitive).
    pub search: Option<String>,
}

pub struct MemberEdge {
    node: Member,
    cursor: String,
}

#[Object]
impl MemberEdge {
    async fn node(&self) -> &Member {
        &self.node
    }

    async fn cursor(&self) -> &str {
        &self.cursor
    }
}

pub struct MemberConnection {
    edges: Vec<MemberEdge>,
    page_info: PageInfo,
    matching: Select<member::Entity>,
}

#[Object]
impl MemberConnection {
    async fn edges(&self) -> &[MemberEdge] {
        &self.edges
    }

    async fn nodes(&self) -> Vec<&Member> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// All members matching the filter that the caller may see, across pages; the
    /// others are not counted (R11, R16).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        self.matching.clone().count(&*db(ctx).await?).await.map_err(gql)
    }
}

fn cursor_of(order: MemberOrder, m: &member::Model) -> String {
    let value = match order {
        MemberOrder::Name => serde_json::json!(["n", m.last_name, m.first_name, m.id]),
        MemberOrder::MembershipNumber => serde_json::json!(["m", m.membership_number]),
    };
    B64.encode(value.to_string())
}

/// The keyset condition "after this cursor" in the given order.
fn after_cursor(order: MemberOrder, cursor: &str) -> async_graphql::Result<Condition> {
    let bad = || gql(ApiError::bad_input("after", "not a valid cursor for this order"));
    let bytes = B64.decode(cursor).map_err(|_| bad())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let parts = value.as_array().ok_or_else(bad)?;
    match (order, parts.as_slice()) {
        (MemberOrder::Name, [tag, last, first, id]) if tag == "n" => {
            let (last, first) = (last.as_str().ok_or_else(bad)?, first.as_str().ok_or_else(bad)?);
            let id = id.as_i64().ok_or_else(bad)?;
            use member::Column as C;
            Ok(Condition::any()
                .add(C::LastName.gt(last))
                .add(Condition::all().add(C::LastName.eq(last)).add(C::FirstName.gt(first)))
                .add(
                    Condition::all().add(C::LastName.eq(last)).add(C::FirstName.eq(first)).add(C::Id.gt(id)),
                ))
        }
        (MemberOrder::MembershipNumber, [tag, number]) if tag == "m" => {
            Ok(Condition::all().add(member::Column::MembershipNumber.gt(number.as_str().ok_or_else(bad)?)))
        }
        _ => Err(bad()),
    }
}

/// `%word%` for LIKE, with the wildcards of the word escaped.
fn like_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() + 2);
    p.push('%');
    for c in word.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn search_condition(search: &str) -> async_graphql::Result<Condition> {
    crate::domain::validate::search("filter.search", search, 600).map_err(|e| gql(ApiError::from(e)))?;
    let words: Vec<&str> = search.split_whitespace().collect();
    if words.len() > 5 || words.iter().any(|w| w.chars().count() > 100) {
        return Err(gql(ApiError::bad_input("filter.search", "at most 5 words of at most 100 characters")));
    }
    let mut all = Condition::all();
    for word in words {
        let pattern = like_pattern(word);
        let mut any = Condition::any();
        for col in [
            member::Column::FirstName,
            member::Column::LastName,
            member::Column::MembershipNumber,
            member::Column::Email,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        all = all.add(any);
    }
    Ok(all)
}

/// The visible members matching `filter`, without paging.
async fn matching(ctx: &Context<'_>, filter: &MemberFilter) -> async_graphql::Result<Select<member::Entity>> {
    let grants = &request(ctx).grants;
    let mut select = visible_select(grants);
    if let Some(unit_id) = &filter.org_unit_id {
        let unit_id = id::decode(unit_id, Kind::OrgUnit, "filter.orgUnitId")?;
        if filter.include_descendants {
            // The subtree is one index range on the materialized path.
            let Some(unit) =
                org_unit::Entity::find_by_id(unit_id).one(&*db(ctx).await?).await.map_err(gql)?
            else {
                return Ok(select.filter(Expr::cust("1 = 0")));
            };
            let below = sea_orm::sea_query::Query::select()
                .column(org_unit::Column::Id)
                .from(org_unit::Entity)
                .cond_where(org_unit::in_subtree(&unit.path))
                .take();
            select = select.filter(member::Column::HomeUnitId.in_subquery(below));
        } else {
            select = select.filter(member::Column::HomeUnitId.eq(unit_id));
        }
    }
    if let Some(statuses) = &filter.status {
        select = select.filter(
            member::Column::Status
                .is_in(statuses.iter().map(|s| entity::MemberStatus::from(*s)).collect::<Vec<_>>()),
        );
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
        select = select.filter(search_condition(search)?);
    }
    Ok(select)
}

/// One page of members: one statement for the page (plus one for pending transfers
/// when R15 can apply), then the relations the query selects, primed for the whole
/// page in a constant number of batched statements.
pub async fn list(
    ctx: &Context<'_>,
    filter: MemberFilter,
    order: MemberOrder,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<MemberConnection> {
    let limit = page_size(first)?;
    let matching = matching(ctx, &filter).await?;
    let mut page = matching.clone();
    if let Some(cursor) = &after {
        page = page.filter(after_cursor(order, cursor)?);
    }
    page = match order {
        MemberOrder::Name => page
            .order_by_asc(member::Column::LastName)
            .order_by_asc(member::Column::FirstName)
            .order_by_asc(member::Column::Id),
        MemberOrder::MembershipNumber => page.order_by_asc(member::Column::MembershipNumber),
    };
    let grants = &request(ctx).grants;
    let mut rows = rows_with_access(&*db(ctx).await?, grants, page.limit(limit + 1)).await.map_err(gql)?;
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    prime_page(ctx, &rows).await?;
    let edges: Vec<MemberEdge> = rows
        .into_iter()
        .map(|r| MemberEdge { cursor: cursor_of(order, &r.member), node: Member(r) })
        .collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: edges.first().map(|e| e.cursor.clone()),
        end_cursor: edges.last().map(|e| e.cursor.clone()),
    };
    Ok(MemberConnection { edges, page_info, matching })
}

/// Loads the relations the query selects on the page's members, for all of them at
/// once, into the request's loaders: the field resolvers then find them cached, and
/// a page of 500 costs the same statements as a page of 10. Only what the caller may
/// read is loaded (bank data only for rows with bank.read, …).
async fn prime_page(ctx: &Context<'_>, rows: &[MemberRow]) -> async_graphql::Result<()> {
    let look = ctx.look_ahead();
    prime_members(ctx, rows, &[look.field("edges").field("node"), look.field("nodes")]).await
}

/// `prime_page` for the member rows of a selection `nodes` (a page's nodes, or a
/// single lookup's field): its relations are then loaded already, without waiting
/// for a DataLoader batch to fill.
async fn prime_members(
    ctx: &Context<'_>,
    rows: &[MemberRow],
    nodes: &[async_graphql::Lookahead<'_>],
) -> async_graphql::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let wants = |name: &str| nodes.iter().any(|n| n.field(name).exists());
    let wants_in = |outer: &str, inner: &str| nodes.iter().any(|n| n.field(outer).field(inner).exists());
    let loaders = ctx.data::<Loaders>()?;
    loaders.member.feed_many(rows.iter().map(|r| (r.member.id, Some(r.clone())))).await;
    let ids = |keep: fn(&MemberRow) -> bool| -> Vec<i64> {
        rows.iter().filter(|r| keep(r)).map(|r| r.member.id).collect()
    };
    async fn prime<T: async_graphql::dataloader::Loader<i64, Error = super::loaders::LoadError>>(
        loader: &DataLoader<T, async_graphql::dataloader::HashMapCache>,
        wanted: bool,
        keys: Vec<i64>,
    ) -> async_graphql::Result<std::collections::HashMap<i64, T::Value>> {
        if !wanted || keys.is_empty() {
            return Ok(Default::default());
        }
        loader.load_many(keys).await.map_err(load_error)
    }
    let (_, _, _, assignments) = tokio::try_join!(
        prime_bank_accounts(ctx, loaders, wants("bankAccount"), rows),
        prime(&loaders.sepa_mandates, wants("sepaMandates"), ids(|r| r.access.bank())),
        prime(&loaders.payments, wants("payments"), ids(|r| r.access.payments())),
        prime(&loaders.assignments_by_member, wants("assignments"), ids(|r| r.access.read())),
    )?;
    // Second round: what the first round's rows point to.
    let mut unit_ids: BTreeSet<i64> = BTreeSet::new();
    if wants("homeUnit") {
        unit_ids.extend(rows.iter().map(|r| r.member.home_unit_id));
    }
    let assignment_rows = assignments.values().flatten();
    if wants_in("assignments", "orgUnit") {
        unit_ids.extend(assignment_rows.clone().map(|a| a.org_unit_id));
    }
    let activity_ids: BTreeSet<i64> = assignment_rows.clone().map(|a| a.activity_id).collect();
    let (units, _) = tokio::try_join!(
        prime(&loaders.org_unit, true, unit_ids.into_iter().collect()),
        prime(&loaders.activity, wants_in("assignments", "activity"), activity_ids.into_iter().collect()),
    )?;
    let wants_level = nodes.iter().any(|n| n.field("homeUnit").field("level").exists())
        || nodes.iter().any(|n| n.field("assignments").field("orgUnit").field("level").exists());
    let level_ids: BTreeSet<i64> = units.values().map(|u| u.level_id).collect();
    prime(&loaders.level, wants_level, level_ids.into_iter().collect()).await?;
    Ok(())
}

/// The bank accounts of the rows whose bank data the caller may read, into the
/// loader: on PostgreSQL read together with the audit rows of those reads (one
/// statement, `audit::read_bank_accounts`), elsewhere through the loader and
/// audited when the response is complete.
async fn prime_bank_accounts(
    ctx: &Context<'_>,
    loaders: &Loaders,
    wanted: bool,
    rows: &[MemberRow],
) -> async_graphql::Result<()> {
    let readable: Vec<i64> = rows.iter().filter(|r| r.access.bank()).map(|r| r.member.id).collect();
    if !wanted || readable.is_empty() {
        return Ok(());
    }
    let audited: Vec<i64> =
        rows.iter().filter(|r| r.access.bank() && !r.access.is_self).map(|r| r.member.id).collect();
    let req = request(ctx);
    let read = crate::domain::audit::read_bank_accounts(
        &*db(ctx).await?,
        chrono::Utc::now(),
        req.grants.user_id(),
        req.request_id.clone(),
        &readable,
        &audited,
    )
    .await
    .map_err(gql)?;
    let Some(accounts) = read else {
        loaders.bank_account.load_many(readable).await.map_err(load_error)?;
        return Ok(());
    };
    let mut by_member: HashMap<i64, Option<bank_account::Model>> =
        readable.iter().map(|id| (*id, None)).collect();
    for account in accounts {
        by_member.insert(account.member_id, Some(account));
    }
    // Audited with the read: the members that have an account (and are not the caller).
    if let Some(reads) = ctx.data_opt::<Arc<BankReads>>() {
        let stored: Vec<i64> =
            audited.into_iter().filter(|id| by_member.get(id).is_some_and(Option::is_some)).collect();
        reads.audited(&stored);
    }
    loaders.bank_account.feed_many(by_member).await;
    Ok(())
}

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// One member; null when it does not exist or the caller may not see it (R11:
    /// the same answer for both).
    async fn member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Member>> {
        let raw = id::decode(&id, Kind::Member, "id")?;
        find_visible(ctx, raw).await
    }

    /// One member by membership number; null when it does not exist or the caller
    /// may not see it (R11).
    async fn member_by_number(
        &self,
        ctx: &Context<'_>,
        membership_number: String,
    ) -> async_graphql::Result<Option<Member>> {
        let grants = &request(ctx).grants;
        let select =
            member::Entity::find().filter(member::Column::MembershipNumber.eq(membership_number.trim()));
        let rows = domain::visible_rows(&*db(ctx).await?, grants, select).await.map_err(gql)?;
        prime_members(ctx, &rows, &[ctx.look_ahead()]).await?;
        Ok(rows.into_iter().next().map(Member))
    }

    /// The members the caller may see (R11), filtered, as a Relay connection.
    async fn members(
        &self,
        ctx: &Context<'_>,
        filter: Option<MemberFilter>,
        #[graphql(default)] order_by: MemberOrder,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<MemberConnection> {
        list(ctx, filter.unwrap_or_default(), order_by, first, after).await
    }

    /// Everything stored about the caller (GDPR Art. 15/20): the user, the member
    /// with bank data, mandates, payments and assignments, API tokens (never their
    /// secrets), sessions, and the audit events about or by the caller, as JSON.
    async fn export_my_data(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        let user_id = signed_in(ctx)?;
        let data =
            crate::domain::self_service::export_my_data(&*db(ctx).await?, user_id).await.map_err(gql)?;
        Ok(Json(data))
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct AddressInput {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct CreateMemberInput {
    pub home_unit_id: ID,
    /// Assigned from the counter when omitted.
    pub membership_number: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Option<Date>,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<AddressInput>,
    /// ACTIVE when omitted.
    pub status: Option<MemberStatus>,
    /// Today when omitted.
    pub joined_on: Option<Date>,
    #[graphql(default = false)]
    pub voting_rights: bool,
    #[graphql(default)]
    pub tags: Vec<String>,
}

/// Only the fields given change; `null` clears an optional field and is refused
/// for a required one (a name, a status).
#[derive(InputObject, Debug, Clone, Default)]
pub struct UpdateMemberInput {
    /// Moving needs member.write at the destination too (R13).
    pub home_unit_id: MaybeUndefined<ID>,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub birth_date: MaybeUndefined<Date>,
    pub gender: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub street: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub status: MaybeUndefined<MemberStatus>,
    pub joined_on: MaybeUndefined<Date>,
    pub voting_rights: MaybeUndefined<bool>,
    pub tags: MaybeUndefined<Vec<String>>,
}

fn patch<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> domain::Patch<U> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

#[derive(InputObject, Debug, Clone)]
pub struct BankAccountInput {
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct SepaMandateInput {
    /// Unique mandate reference (at most 35 characters).
    pub reference: String,
    pub signed_on: Date,
    /// The member's bank account's IBAN when omitted.
    pub iban: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct PaymentInput {
    pub amount_cents: i64,
    /// EUR when omitted.
    pub currency: Option<String>,
    pub paid_on: Date,
    pub period_from: Option<Date>,
    pub period_to: Option<Date>,
    pub note: Option<String>,
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Creates a member in a unit: member.create at the unit (R13). The membership
    /// number comes from the counter unless given (then it must be unique).
    async fn create_member(
        &self,
        ctx: &Context<'_>,
        input: CreateMemberInput,
    ) -> async_graphql::Result<Option<Member>> {
        signed_in(ctx)?;
        let home_unit_id = id::decode(&input.home_unit_id, Kind::OrgUnit, "homeUnitId")?;
        let address = input.address.unwrap_or_default();
        let new = domain::NewMember {
            home_unit_id,
            membership_number: input.membership_number,
            first_name: input.first_name,
            last_name: input.last_name,
            birth_date: input.birth_date.map(|d| d.0),
            gender: input.gender,
            email: input.email,
            phone: input.phone,
            address: domain::AddressInput {
                street: address.street,
                postal_code: address.postal_code,
                city: address.city,
                country: address.country,
            },
            status: input.status.map(Into::into),
            joined_on: input.joined_on.map(|d| d.0),
            voting_rights: input.voting_rights,
            tags: input.tags,
        };
        let req = request(ctx);
        let created = domain::create_member(&*db(ctx).await?, &req.actor(), new).await.map_err(gql)?;
        Ok(created.visible.map(Member))
    }

    /// Changes a member: member.write on it, and at the destination when moving it
    /// (R13); members change their own email, phone and address themselves (R17).
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateMemberInput,
    ) -> async_graphql::Result<Option<Member>> {
        signed_in(ctx)?;
        let member_id = id::decode(&id, Kind::Member, "id")?;
        let home_unit_id = not_null("homeUnitId", input.home_unit_id)?
            .map(|u| id::decode(&u, Kind::OrgUnit, "homeUnitId"))
            .transpose()?;
        let changes = domain::MemberChanges {
            home_unit_id,
            first_name: not_null("firstName", input.first_name)?,
            last_name: not_null("lastName", input.last_name)?,
            birth_date: patch(input.birth_date, |d| d.0),
            gender: patch(input.gender, |v| v),
            email: patch(input.email, |v| v),
            phone: patch(input.phone, |v| v),
            street: patch(input.street, |v| v),
            postal_code: patch(input.postal_code, |v| v),
            city: patch(input.city, |v| v),
            country: patch(input.country, |v| v),
            status: not_null("status", input.status)?.map(Into::into),
            joined_on: patch(input.joined_on, |d| d.0),
            voting_rights: not_null("votingRights", input.voting_rights)?,
            tags: not_null("tags", input.tags)?,
        };
        let req = request(ctx);
        let conn = &*db(ctx).await?;
        let updated = domain::update_member(conn, &req.actor(), member_id, changes).await.map_err(gql)?;
        // The member's users may gain or lose every right (R6).
        let authz = ctx.data::<Arc<Authz>>()?;
        for u in &updated.users_changed {
            authz.user_changed(*u);
        }
        Ok(updated.visible.map(Member))
    }

    /// Sets the member's bank account: bank.write on the member (R13); the IBAN's
    /// check digits are verified.
    async fn set_bank_account(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        input: BankAccountInput,
    ) -> async_graphql::Result<BankAccount> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let req = request(ctx);
        let input = domain::BankAccountInput {
            iban: input.iban,
            bic: input.bic,
            account_holder: input.account_holder,
        };
        let saved =
            domain::set_bank_account(&*db(ctx).await?, &req.actor(), member_id, input).await.map_err(gql)?;
        Ok(saved.into())
    }

    /// Adds a SEPA mandate: bank.write on the member (R13).
    async fn add_sepa_mandate(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        input: SepaMandateInput,
    ) -> async_graphql::Result<SepaMandate> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let req = request(ctx);
        let input = domain::SepaMandateInput {
            reference: input.reference,
            signed_on: input.signed_on.0,
            iban: input.iban,
        };
        let saved =
            domain::add_sepa_mandate(&*db(ctx).await?, &req.actor(), member_id, input).await.map_err(gql)?;
        Ok(saved.into())
    }

    /// Records a membership-fee payment: payment.write on the member (R13).
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        input: PaymentInput,
    ) -> async_graphql::Result<Payment> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let req = request(ctx);
        let input = domain::PaymentInput {
            amount_cents: input.amount_cents,
            currency: input.currency,
            paid_on: input.paid_on.0,
            period_from: input.period_from.map(|d| d.0),
            period_to: input.period_to.map(|d| d.0),
            note: input.note,
        };
        let saved =
            domain::record_payment(&*db(ctx).await?, &req.actor(), member_id, input).await.map_err(gql)?;
        Ok(saved.into())
    }
}
