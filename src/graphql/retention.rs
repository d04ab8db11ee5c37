//! Leaving and retention: ending a membership, anonymizing after retention.
use super::error::gql;
use super::id::{self, Kind};
use super::member::Member;
use super::scalars::Date;
use super::{db, request, signed_in};
use crate::authz::{Authz, Invalidate};
use crate::domain::retention as domain;
use async_graphql::{Context, ID, Object};
use std::sync::Arc;

#[derive(Default)]
pub struct RetentionMutation;

/// The member's users hold other rights now (R6) or no longer exist: their cached
/// grants must go on this and, through the invalidation signal, every instance.
fn forget_users(ctx: &Context<'_>, user_ids: &[i64]) -> async_graphql::Result<()> {
    let authz = ctx.data::<Arc<Authz>>()?;
    for id in user_ids {
        authz.user_changed(*id);
    }
    Ok(())
}

#[Object]
impl RetentionMutation {
    /// Ends a membership on `leftOn`: member.write on the member (R13). The record is
    /// kept until `retentionUntil`, the end of the tenth calendar year after leaving
    /// (tax law). The member's offices end on `leftOn` and pending transfers are
    /// cancelled. From `leftOn` on the member is LEFT: their user can no longer sign
    /// in and their sessions end at once. `leftOn` may lie up to two years ahead (a
    /// statutory notice period); the member stays until then. CONFLICT when the
    /// leaving is already recorded; BAD_USER_INPUT (`leftOn`) before joining or too
    /// far ahead. Members of archived units can leave too.
    async fn end_membership(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        left_on: Date,
    ) -> async_graphql::Result<Option<Member>> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let req = request(ctx);
        let ended = domain::end_membership(&*db(ctx).await?, &req.actor(), member_id, left_on.0)
            .await
            .map_err(gql)?;
        forget_users(ctx, &ended.user_ids)?;
        Ok(ended.visible.map(Member))
    }

    /// Anonymizes a former member after the retention period: member.delete on the
    /// member. Blanks names, birth date, gender, contact data, address and tags,
    /// replaces the membership number by `ANON-…`, deletes bank account, SEPA
    /// mandates and the member's logins; keeps status, joining and leaving dates,
    /// home unit and the payments' amounts and dates, so counts and sums stay right.
    /// CONFLICT naming the date while the record is retained ("retained until
    /// 2036-12-31"), for members who have not left, and when already anonymized.
    async fn anonymize_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
    ) -> async_graphql::Result<Option<Member>> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let req = request(ctx);
        let done = domain::anonymize_member(&*db(ctx).await?, &req.actor(), member_id).await.map_err(gql)?;
        forget_users(ctx, &done.user_ids)?;
        Ok(done.visible.map(Member))
    }
}
