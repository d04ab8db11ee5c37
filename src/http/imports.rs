//! `POST /imports/members.csv[?dryRun=true][&mode=ALL_OR_NOTHING|VALID_ROWS]`: a
//! CSV file of members as the request body (the export's columns; `,` or `;`, with
//! or without BOM, English or German headers), with the same authentication as
//! GraphQL. Answers a JSON report (`domain::imports::Report`): 200, or 422 when an
//! all-or-nothing import refused rows and wrote nothing.
//!
//! The body streams into the import: it is read as it arrives, up to
//! `max_import_bytes` (413 beyond; the route has its own limit and timeout instead
//! of the API's). An `Idempotency-Key` header makes a retried upload answer the
//! first one's report (`Idempotent-Replayed: true`) instead of importing again.
//!
//! Other refusals are JSON `{"error": …, "code": …}` like the exports': 400
//! BAD_USER_INPUT (parameters, header row, unreadable file), 401, 409 (the key was
//! used for other rows), 413, 415.
use super::AppState;
use super::exports::{Params, bad_input, error_response, from_domain, signed_in};
use super::graphql::Refusal;
use crate::authz::Invalidate;
use crate::domain::Actor;
use crate::domain::imports::csv::CsvRows;
use crate::domain::imports::{self, ImportOptions, Mode, idempotency};
use crate::graphql::id::org_unit_id;
use async_graphql::futures_util::StreamExt;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tower_http::request_id::RequestId;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on the answer of a retry: the report is the stored one of the first upload.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub async fn members_csv(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    let request_id =
        request_id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    match members(&state, request_id, &headers, &uri, body).await {
        Ok(response) => response,
        Err(refusal) => error_response(refusal),
    }
}

fn too_large(max: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is larger than {max} bytes (VERBAND_MAX_IMPORT_BYTES); split it"),
        "BAD_USER_INPUT",
    )
}

async fn members(
    state: &AppState,
    request_id: Option<String>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Response, Refusal> {
    let (grants, today) = signed_in(state, headers).await?;
    let params = Params::parse(uri, &["dryRun", "mode"])?;
    let dry_run = params.flag("dryRun", false)?;
    let mode = match params.get("mode") {
        None => Mode::default(),
        Some(v) => Mode::parse(v)
            .ok_or_else(|| bad_input("mode", &format!("must be one of {}", Mode::NAMES.join(", "))))?,
    };
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.trim_start().to_ascii_lowercase().starts_with("multipart/") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the file itself as the body (curl --data-binary @members.csv -H 'content-type: text/csv'), \
             not as a form",
            "BAD_USER_INPUT",
        ));
    }
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => {
            let key = v.to_str().map_err(|_| bad_input("Idempotency-Key", "must be visible ASCII"))?;
            idempotency::check_key("Idempotency-Key", key).map_err(from_domain)?;
            Some(key.to_owned())
        }
    };
    let max = state.max_import_bytes;
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }

    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let exceeded = AtomicBool::new(false);
    let forward = forward(body, tx, max, &exceeded);
    let mut source = CsvRows::spawn(rx);
    let actor = Actor { user_id: grants.user_id(), grants: &grants, today, now: Utc::now(), request_id };
    let options = ImportOptions { dry_run, mode, idempotency_key };
    // One transaction for the whole file: on SQLite its statements may run for as
    // long as the import may.
    let import = crate::db::with_statement_budget(
        state.import_timeout,
        imports::import_members(&state.db, &actor, &mut source, &options, org_unit_id),
    );
    let outcome = {
        tokio::pin!(forward, import);
        // Forwarding stops when the import ends (a header error, say), and the
        // import goes on after the last byte arrived.
        tokio::select! {
            outcome = &mut import => outcome,
            () = &mut forward => import.await,
        }
    };
    if exceeded.load(Ordering::Relaxed) {
        return Err(too_large(max));
    }
    let outcome = outcome.map_err(from_domain)?;
    // R6: a member whose status changed may have gained or lost their rights.
    for user_id in &outcome.users_changed {
        state.authz.user_changed(*user_id);
    }
    let status = if outcome.report.refused() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response = (status, axum::Json(&outcome.report)).into_response();
    // Personal data (numbers, unit names) in the report: never cached.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if outcome.replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Hands the body on as it arrives, and stops with an error past `max` bytes (a
/// chunked upload has no length to refuse up front).
async fn forward(body: Body, tx: mpsc::Sender<std::io::Result<Bytes>>, max: usize, exceeded: &AtomicBool) {
    let mut stream = body.into_data_stream();
    let mut total = 0_usize;
    while let Some(frame) = stream.next().await {
        let item = match frame {
            Ok(bytes) => {
                total = total.saturating_add(bytes.len());
                if total > max {
                    exceeded.store(true, Ordering::Relaxed);
                    let _ = tx.send(Err(std::io::Error::other("the file is too large"))).await;
                    return;
                }
                Ok(bytes)
            }
            Err(e) => Err(std::io::Error::other(format!("the upload broke off ({e})"))),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}
