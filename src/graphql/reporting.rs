//! Statistics for dashboards: member counts per period over a subtree.
use super::error::{ApiError, gql};
use super::id::{Kind, decode};
use super::scalars::Date;
use super::{db, request, signed_in};
use crate::domain::reporting::{self, Interval};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};

/// The length of the periods of a count series.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CountInterval {
    /// One period per day.
    Day,
    /// ISO weeks, Monday to Sunday (the first and last cut at the range).
    Week,
    /// Calendar months (the first and last cut at the range).
    Month,
}

impl From<CountInterval> for Interval {
    fn from(i: CountInterval) -> Self {
        match i {
            CountInterval::Day => Interval::Day,
            CountInterval::Week => Interval::Week,
            CountInterval::Month => Interval::Month,
        }
    }
}

/// The number of active members at the end of one period.
#[derive(SimpleObject, Debug, Clone)]
pub struct MemberCount {
    /// First day of the period.
    pub period_start: Date,
    /// Last day of the period; `count` is taken on this day.
    pub period_end: Date,
    /// Members active on `periodEnd` (joined on or before it, not left before it)
    /// that the caller may see.
    pub count: i32,
}

#[derive(Default)]
pub struct ReportingQuery;

#[Object]
impl ReportingQuery {
    /// Active members of a unit and its subtree per period of `from..=to` (for
    /// growth charts), counted on each period's last day. Only members the caller
    /// may read are counted (R11): a state treasurer asking for the whole tree gets
    /// the members of their state. A member is active on a day when joined on or
    /// before it and not left before it. At most 3,700 days by DAY, a century by
    /// WEEK or MONTH. Also as CSV: `GET /reports/member-counts.csv`.
    async fn member_counts(
        &self,
        ctx: &Context<'_>,
        org_unit_id: ID,
        from: Date,
        to: Date,
        #[graphql(desc = "DAY when omitted or null.")] interval: Option<CountInterval>,
    ) -> async_graphql::Result<Vec<MemberCount>> {
        signed_in(ctx)?;
        let unit_id = decode(&org_unit_id, Kind::OrgUnit, "orgUnitId")?;
        // Optional rather than defaulted: a declared but unset variable arrives as
        // null, which a non-null argument would reject.
        let interval = Interval::from(interval.unwrap_or(CountInterval::Day));
        reporting::check_range(from.0, to.0, interval, "to").map_err(|e| gql(ApiError::from(e)))?;
        let grants = &request(ctx).grants;
        let conn = &*db(ctx).await?;
        let unit =
            reporting::visible_unit(conn, grants, unit_id).await.map_err(|e| gql(ApiError::from(e)))?;
        let counts = reporting::member_counts(conn, grants, &unit, from.0, to.0, interval)
            .await
            .map_err(|e| gql(ApiError::from(e)))?;
        Ok(counts
            .into_iter()
            .map(|c| MemberCount {
                period_start: c.period_start.into(),
                period_end: c.period_end.into(),
                count: i32::try_from(c.count).unwrap_or(i32::MAX),
            })
            .collect())
    }
}
