use super::AppState;
use crate::auth::Caller;
use crate::authz::Grants;
use crate::graphql::RequestContext;
use crate::graphql::loaders::Loaders;
use async_graphql::ServerError;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::response::Html;
use std::sync::Arc;
use tower_http::request_id::RequestId;

pub async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("verband").finish())
}

/// Executes one GraphQL request with its per-request data: the caller, "today",
/// and fresh loaders (batches never mix callers).
pub async fn handle(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    req: GraphQLRequest,
) -> GraphQLResponse {
    let request_id =
        request_id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    // Authentication is not wired yet: every caller is anonymous and holds nothing.
    let caller = Caller::Anonymous;
    let today = state.clock.today();
    let grants = match caller {
        Caller::Anonymous => Arc::new(Grants::none()),
        Caller::User { user_id } => match state.authz.grants(user_id, today).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "compiling grants failed");
                let error = ServerError::new("internal error", None);
                return async_graphql::Response::from_errors(vec![error]).into();
            }
        },
    };
    let context = RequestContext { caller, grants, today, request_id };
    let req = req.into_inner().data(context).data(Loaders::new(&state.db));
    let mut response = state.schema.execute(req).await;
    label_errors(&mut response.errors);
    response.into()
}

/// Every error carries `extensions.code`. Errors without a path were raised before
/// execution (syntax, validation, depth and complexity limits): the request was bad.
/// Errors in a field that carry no code are unexpected: INTERNAL, and logged.
fn label_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if error.path.is_empty() {
            "BAD_USER_INPUT"
        } else {
            tracing::error!(message = %error.message, "unlabelled error in a resolver");
            error.message = "internal error".to_owned();
            "INTERNAL"
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}
