use super::AppState;
use crate::auth::Caller;
use crate::graphql::RequestContext;
use crate::graphql::loaders::Loaders;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::response::Html;
use tower_http::request_id::RequestId;

pub async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("verband")
            .finish(),
    )
}

/// Executes one GraphQL request with its per-request data: the caller, "today",
/// and fresh loaders (batches never mix callers).
pub async fn handle(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let request_id = request_id
        .and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    let context = RequestContext {
        caller: Caller::Anonymous,
        today: state.clock.today(),
        request_id,
    };
    let req = req.into_inner().data(context).data(Loaders::new(&state.db));
    state.schema.execute(req).await.into()
}
