use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

/// How long `/readyz` waits for the database: a load balancer's probe must get an
/// answer even while the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers (within a second). 503 while it is down or
/// restarting; the pool reconnects by itself, so this turns 200 again without a
/// restart of the server.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if crate::db::ping(&state.db, READY_TIMEOUT).await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
