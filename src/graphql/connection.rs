//! Relay connections: page size limits and page info.
use super::error::{ApiError, gql};
use async_graphql::SimpleObject;

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 500;

#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Validates `first`: 0 ≤ first ≤ 500.
pub fn page_size(first: i32) -> async_graphql::Result<u64> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(gql(ApiError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}"))));
    }
    Ok(first as u64)
}
