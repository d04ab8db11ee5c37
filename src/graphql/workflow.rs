//! Workflows (docs/workflows.md): admissions (Aufnahmeanträge) and transfers
//! between units. The rules live in `domain::admissions` and `domain::transfers`;
//! this module converts and lists. An admission or transfer the caller may not see
//! is absent: not listed, not counted, null on lookup, NOT_FOUND for mutations.
use super::connection::{PageInfo, page_size};
use super::error::gql;
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::member::{Address, AddressInput, Member, find_visible as find_member};
use super::org_unit::OrgUnit;
use super::scalars::{Date, DateTime};
use super::{db, request, signed_in};
use crate::authz::Permission;
use crate::authz::units::can_see_unit;
use crate::domain::admissions::{self, Application};
use crate::domain::members::AddressInput as DomainAddress;
use crate::domain::transfers::{self, Direction};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use entity::{admission, org_unit, transfer};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select};

// ---------------------------------------------------------------------------
// Types

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "AdmissionStatus")]
pub enum AdmissionStatus {
    Pending,
    Approved,
    Rejected,
}

impl From<entity::AdmissionStatus> for AdmissionStatus {
    fn from(s: entity::AdmissionStatus) -> Self {
        match s {
            entity::AdmissionStatus::Pending => Self::Pending,
            entity::AdmissionStatus::Approved => Self::Approved,
            entity::AdmissionStatus::Rejected => Self::Rejected,
        }
    }
}

impl From<AdmissionStatus> for entity::AdmissionStatus {
    fn from(s: AdmissionStatus) -> Self {
        match s {
            AdmissionStatus::Pending => Self::Pending,
            AdmissionStatus::Approved => Self::Approved,
            AdmissionStatus::Rejected => Self::Rejected,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TransferStatus")]
pub enum TransferStatus {
    Pending,
    Accepted,
    Rejected,
    Cancelled,
}

impl From<entity::TransferStatus> for TransferStatus {
    fn from(s: entity::TransferStatus) -> Self {
        match s {
            entity::TransferStatus::Pending => Self::Pending,
            entity::TransferStatus::Accepted => Self::Accepted,
            entity::TransferStatus::Rejected => Self::Rejected,
            entity::TransferStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<TransferStatus> for entity::TransferStatus {
    fn from(s: TransferStatus) -> Self {
        match s {
            TransferStatus::Pending => Self::Pending,
            TransferStatus::Accepted => Self::Accepted,
            TransferStatus::Rejected => Self::Rejected,
            TransferStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Which transfers to list, seen from the caller's units.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TransferDirection {
    /// Into units where the caller holds member.write (theirs to accept or reject).
    Incoming,
    /// Out of units where the caller holds member.write (theirs to cancel).
    Outgoing,
    /// Both.
    #[default]
    All,
}

impl From<TransferDirection> for Direction {
    fn from(d: TransferDirection) -> Self {
        match d {
            TransferDirection::Incoming => Self::Incoming,
            TransferDirection::Outgoing => Self::Outgoing,
            TransferDirection::All => Self::All,
        }
    }
}

/// A unit by id, null when the caller may not see it (R14).
async fn unit(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<org_unit::Model>> {
    let loaders = ctx.data::<Loaders>()?;
    let unit = loaders.org_unit.load_one(id).await.map_err(load_error)?;
    Ok(unit.filter(|u| can_see_unit(&request(ctx).grants, u)))
}

/// A unit by id whatever its visibility, for permission checks on its path.
async fn unit_path(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<String>> {
    let loaders = ctx.data::<Loaders>()?;
    Ok(loaders.org_unit.load_one(id).await.map_err(load_error)?.map(|u| u.path))
}

/// An application to join a unit (Aufnahmeantrag). Visible only to callers holding
/// admission.approve, admission.approve_adult or member.write at its unit: the
/// applicant's data is personal.
#[derive(Debug, Clone)]
pub struct Admission(pub admission::Model);

#[Object]
impl Admission {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Admission, self.0.id)
    }

    /// The unit applied to; null when the caller may not see it (R14).
    async fn org_unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        Ok(unit(ctx, self.0.org_unit_id).await?.map(OrgUnit))
    }

    async fn first_name(&self) -> &str {
        &self.0.first_name
    }

    async fn last_name(&self) -> &str {
        &self.0.last_name
    }

    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }

    async fn gender(&self) -> Option<&str> {
        self.0.gender.as_deref()
    }

    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    async fn address(&self) -> Address {
        let a = &self.0;
        Address {
            street: a.street.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.clone(),
        }
    }

    async fn status(&self) -> AdmissionStatus {
        self.0.status.into()
    }

    /// Why the application was rejected.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The member the approval created; null until approved, or when the caller
    /// may not see that member (R11).
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        match self.0.member_id {
            Some(id) => find_member(ctx, id).await,
            None => Ok(None),
        }
    }

    async fn applied_at(&self) -> DateTime {
        DateTime(self.0.applied_at)
    }

    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(DateTime)
    }

    /// The applicant is 18 or older today: approving needs admission.approve_adult
    /// as well as admission.approve.
    async fn adult(&self, ctx: &Context<'_>) -> bool {
        admissions::is_adult(self.0.birth_date, request(ctx).today)
    }

    /// The caller may approve this application now (it is pending and they hold
    /// what the applicant's age requires).
    async fn viewer_may_approve(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let req = request(ctx);
        let Some(path) = unit_path(ctx, self.0.org_unit_id).await? else { return Ok(false) };
        Ok(admissions::may_approve(&req.grants, &self.0, &path, req.today))
    }
}

/// A member's move from one unit to another: requested by member.write at the
/// source, accepted or rejected by member.write at the destination. Visible to
/// callers holding member.write at either end.
#[derive(Debug, Clone)]
pub struct Transfer(pub transfer::Model);

#[Object]
impl Transfer {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Transfer, self.0.id)
    }

    /// The member; null when the caller may not see it. While the transfer is
    /// pending the destination reads the member.read fields (R15, no bank data or
    /// payments); after a rejection or cancellation it no longer does.
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        find_member(ctx, self.0.member_id).await
    }

    /// Where the member came from; null when the caller may not see it (R14).
    #[graphql(name = "fromUnit")]
    async fn source_unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        Ok(unit(ctx, self.0.from_unit_id).await?.map(OrgUnit))
    }

    /// Where the member goes; null when the caller may not see it (R14).
    async fn to_unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        Ok(unit(ctx, self.0.to_unit_id).await?.map(OrgUnit))
    }

    async fn status(&self) -> TransferStatus {
        self.0.status.into()
    }

    /// The reason given with the request; once rejected, the rejection's reason.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    async fn requested_at(&self) -> DateTime {
        DateTime(self.0.requested_at)
    }

    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(DateTime)
    }

    /// The caller may accept or reject it now (pending, member.write at the
    /// destination).
    async fn viewer_may_decide(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        self.pending_and_held_at(ctx, self.0.to_unit_id).await
    }

    /// The caller may cancel it now (pending, member.write at the source).
    async fn viewer_may_cancel(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        self.pending_and_held_at(ctx, self.0.from_unit_id).await
    }
}

impl Transfer {
    async fn pending_and_held_at(&self, ctx: &Context<'_>, unit_id: i64) -> async_graphql::Result<bool> {
        if self.0.status != entity::TransferStatus::Pending {
            return Ok(false);
        }
        let Some(path) = unit_path(ctx, unit_id).await? else { return Ok(false) };
        Ok(request(ctx).grants.holds_at(Permission::MemberWrite, &path))
    }
}

// ---------------------------------------------------------------------------
// Connections

macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ident, $entity:path, $doc:literal) => {
        pub struct $edge {
            node: $node,
        }

        #[Object]
        impl $edge {
            async fn node(&self) -> &$node {
                &self.node
            }

            async fn cursor(&self) -> String {
                id::cursor(self.node.0.id)
            }
        }

        pub struct $conn {
            edges: Vec<$edge>,
            page_info: PageInfo,
            /// The filter without paging, for `totalCount` (run only when asked for).
            matching: Select<$entity>,
        }

        #[Object]
        impl $conn {
            async fn edges(&self) -> &[$edge] {
                &self.edges
            }

            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|e| &e.node).collect()
            }

            async fn page_info(&self) -> &PageInfo {
                &self.page_info
            }

            #[doc = $doc]
            async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
                self.matching.clone().count(&*db(ctx).await?).await.map_err(gql)
            }
        }
    };
}

connection!(
    AdmissionConnection,
    AdmissionEdge,
    Admission,
    admission::Entity,
    "All matching applications the caller may see, across pages; the others are not counted."
);
connection!(
    TransferConnection,
    TransferEdge,
    Transfer,
    transfer::Entity,
    "All matching transfers the caller may see, across pages; the others are not counted."
);

/// Pages in id order (oldest first: the order they are worked through).
fn page_info<T>(edges: &[T], id_of: impl Fn(&T) -> i64, has_next_page: bool, after: Option<i64>) -> PageInfo {
    PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: edges.first().map(|e| id::cursor(id_of(e))),
        end_cursor: edges.last().map(|e| id::cursor(id_of(e))),
    }
}

async fn list_admissions(
    ctx: &Context<'_>,
    org_unit_id: Option<ID>,
    include_descendants: bool,
    status: Option<Vec<AdmissionStatus>>,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<AdmissionConnection> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(|c| id::decode_cursor(c, "after")).transpose()?;
    let grants = &request(ctx).grants;
    let mut matching = admission::Entity::find().filter(admissions::visible_condition(grants));
    if let Some(unit_id) = &org_unit_id {
        let unit_id = id::decode(unit_id, Kind::OrgUnit, "orgUnitId")?;
        if include_descendants {
            // The subtree is one index range on the materialized path; a missing
            // unit matches nothing.
            let path = org_unit::Entity::find_by_id(unit_id)
                .one(&*db(ctx).await?)
                .await
                .map_err(gql)?
                .map(|u| u.path);
            let Some(path) = path else {
                return Ok(AdmissionConnection {
                    edges: vec![],
                    page_info: page_info(&[] as &[AdmissionEdge], |e| e.node.0.id, false, after),
                    matching: matching.filter(Expr::cust("1 = 0")),
                });
            };
            let below = Query::select()
                .column(org_unit::Column::Id)
                .from(org_unit::Entity)
                .cond_where(org_unit::in_subtree(&path))
                .take();
            matching = matching.filter(admission::Column::OrgUnitId.in_subquery(below));
        } else {
            matching = matching.filter(admission::Column::OrgUnitId.eq(unit_id));
        }
    }
    if let Some(statuses) = status {
        let statuses: Vec<entity::AdmissionStatus> = statuses.into_iter().map(Into::into).collect();
        matching = matching.filter(admission::Column::Status.is_in(statuses));
    }
    let mut page = matching.clone().order_by_asc(admission::Column::Id).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(admission::Column::Id.gt(after));
    }
    let mut rows = page.all(&*db(ctx).await?).await.map_err(gql)?;
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let edges: Vec<AdmissionEdge> = rows.into_iter().map(|a| AdmissionEdge { node: Admission(a) }).collect();
    let page_info = page_info(&edges, |e| e.node.0.id, has_next_page, after);
    Ok(AdmissionConnection { edges, page_info, matching })
}

async fn list_transfers(
    ctx: &Context<'_>,
    direction: TransferDirection,
    status: Option<Vec<TransferStatus>>,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<TransferConnection> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(|c| id::decode_cursor(c, "after")).transpose()?;
    let grants = &request(ctx).grants;
    let mut matching =
        transfer::Entity::find().filter(transfers::visible_condition(grants, direction.into()));
    if let Some(statuses) = status {
        let statuses: Vec<entity::TransferStatus> = statuses.into_iter().map(Into::into).collect();
        matching = matching.filter(transfer::Column::Status.is_in(statuses));
    }
    let mut page = matching.clone().order_by_asc(transfer::Column::Id).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(transfer::Column::Id.gt(after));
    }
    let mut rows = page.all(&*db(ctx).await?).await.map_err(gql)?;
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let edges: Vec<TransferEdge> = rows.into_iter().map(|t| TransferEdge { node: Transfer(t) }).collect();
    let page_info = page_info(&edges, |e| e.node.0.id, has_next_page, after);
    Ok(TransferConnection { edges, page_info, matching })
}

// ---------------------------------------------------------------------------
// Queries

/// One application the caller may see (for `admission` and `node`), else None.
pub async fn admission_node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Admission>> {
    let grants = &request(ctx).grants;
    let found = admissions::find_visible(&*db(ctx).await?, grants, raw_id).await.map_err(gql)?;
    Ok(found.map(|(a, _)| Admission(a)))
}

/// One transfer the caller may see (for `transfer` and `node`), else None.
pub async fn transfer_node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Transfer>> {
    let grants = &request(ctx).grants;
    let found = transfers::find_visible(&*db(ctx).await?, grants, raw_id).await.map_err(gql)?;
    Ok(found.map(|r| Transfer(r.transfer)))
}

#[derive(Default)]
pub struct WorkflowQuery;

#[Object]
impl WorkflowQuery {
    /// Applications to join, oldest first: those at units where the caller holds
    /// admission.approve, admission.approve_adult or member.write; nobody else sees
    /// any.
    async fn admissions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Applications to this unit…")] org_unit_id: Option<ID>,
        #[graphql(desc = "…or to any unit below it.", default = false)] include_descendants: bool,
        #[graphql(desc = "Only applications in these states.")] status: Option<Vec<AdmissionStatus>>,
        #[graphql(desc = "Page size, at most 500.", default = 50)] first: i32,
        #[graphql(desc = "The `cursor` of the previous page's last edge.")] after: Option<String>,
    ) -> async_graphql::Result<AdmissionConnection> {
        list_admissions(ctx, org_unit_id, include_descendants, status, first, after).await
    }

    /// One application; null when it does not exist or the caller may not see it
    /// (the same answer for both).
    async fn admission(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Admission>> {
        let raw = id::decode(&id, Kind::Admission, "id")?;
        admission_node(ctx, raw).await
    }

    /// Transfers into or out of units where the caller holds member.write, oldest
    /// first.
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Incoming, outgoing or both.", default)] direction: TransferDirection,
        #[graphql(desc = "Only transfers in these states.")] status: Option<Vec<TransferStatus>>,
        #[graphql(desc = "Page size, at most 500.", default = 50)] first: i32,
        #[graphql(desc = "The `cursor` of the previous page's last edge.")] after: Option<String>,
    ) -> async_graphql::Result<TransferConnection> {
        list_transfers(ctx, direction, status, first, after).await
    }

    /// One transfer; null when it does not exist or the caller holds member.write
    /// at neither end (the same answer for both).
    async fn transfer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Transfer>> {
        let raw = id::decode(&id, Kind::Transfer, "id")?;
        transfer_node(ctx, raw).await
    }
}

// ---------------------------------------------------------------------------
// Mutations

/// An application to join a unit.
#[derive(InputObject, Debug, Clone)]
pub struct ApplyForMembershipInput {
    /// The unit to join; it must be visible to the caller (PUBLIC for anonymous
    /// applicants, R14) and active.
    pub org_unit_id: ID,
    pub first_name: String,
    pub last_name: String,
    /// Required: applicants of 18 or older need an adult approval.
    pub birth_date: Date,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<AddressInput>,
}

/// The application as filed. Applicants cannot read it back: it holds personal
/// data that only the unit's officers see.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApplyForMembershipPayload {
    pub admission_id: ID,
    pub status: AdmissionStatus,
}

#[derive(Default)]
pub struct WorkflowMutation;

#[Object]
impl WorkflowMutation {
    /// Applies for membership in a unit; anonymous callers may apply to PUBLIC units,
    /// signed-in callers to any unit they can see. The unit must be active.
    async fn apply_for_membership(
        &self,
        ctx: &Context<'_>,
        input: ApplyForMembershipInput,
    ) -> async_graphql::Result<ApplyForMembershipPayload> {
        let org_unit_id = id::decode(&input.org_unit_id, Kind::OrgUnit, "orgUnitId")?;
        let address = input.address.unwrap_or_default();
        let application = Application {
            org_unit_id,
            first_name: input.first_name,
            last_name: input.last_name,
            birth_date: input.birth_date.0,
            gender: input.gender,
            email: input.email,
            phone: input.phone,
            address: DomainAddress {
                street: address.street,
                postal_code: address.postal_code,
                city: address.city,
                country: address.country,
            },
        };
        let req = request(ctx);
        let saved = admissions::apply(&*db(ctx).await?, &req.actor(), application).await.map_err(gql)?;
        Ok(ApplyForMembershipPayload {
            admission_id: id::encode(Kind::Admission, saved.id),
            status: saved.status.into(),
        })
    }

    /// Approves an application: admission.approve at its unit, and for an applicant
    /// of 18 or older on the day of approval admission.approve_adult there as well.
    /// Creates the member (ACTIVE, joined today, the next membership number) in the
    /// same transaction and returns it (null only if the caller may not read
    /// members at that unit).
    async fn approve_admission(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Member>> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Admission, "id")?;
        let req = request(ctx);
        let (_, _, visible) = admissions::approve(&*db(ctx).await?, &req.actor(), raw).await.map_err(gql)?;
        Ok(visible.map(Member))
    }

    /// Rejects an application with a reason: admission.approve at its unit.
    async fn reject_admission(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Admission> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Admission, "id")?;
        let req = request(ctx);
        let decided = admissions::reject(&*db(ctx).await?, &req.actor(), raw, &reason).await.map_err(gql)?;
        Ok(Admission(decided))
    }

    /// Requests moving a member to another unit: member.write on the member. The
    /// destination decides; meanwhile it reads the member (R15). At most one pending
    /// transfer per member.
    async fn request_transfer(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        to_unit_id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<Transfer> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let to_unit_id = id::decode(&to_unit_id, Kind::OrgUnit, "toUnitId")?;
        let req = request(ctx);
        let saved =
            transfers::request(&*db(ctx).await?, &req.actor(), member_id, to_unit_id, reason.as_deref())
                .await
                .map_err(gql)?;
        Ok(Transfer(saved))
    }

    /// Accepts a pending transfer: member.write at the destination. The member moves
    /// there in the same transaction.
    async fn accept_transfer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Transfer> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Transfer, "id")?;
        let req = request(ctx);
        Ok(Transfer(transfers::accept(&*db(ctx).await?, &req.actor(), raw).await.map_err(gql)?))
    }

    /// Rejects a pending transfer with a reason: member.write at the destination.
    async fn reject_transfer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Transfer> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Transfer, "id")?;
        let req = request(ctx);
        Ok(Transfer(transfers::reject(&*db(ctx).await?, &req.actor(), raw, &reason).await.map_err(gql)?))
    }

    /// Withdraws a pending transfer: member.write at the source.
    async fn cancel_transfer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Transfer> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Transfer, "id")?;
        let req = request(ctx);
        Ok(Transfer(transfers::cancel(&*db(ctx).await?, &req.actor(), raw).await.map_err(gql)?))
    }
}
