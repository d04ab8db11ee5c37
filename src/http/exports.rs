//! CSV for dashboards and scripts, with the same authentication as GraphQL:
//!
//! - `GET /reports/member-counts.csv?orgUnitId=&from=&to=&interval=DAY|WEEK|MONTH`:
//!   the `memberCounts` series (`period_start,period_end,count`);
//! - `GET /exports/members.csv?orgUnitId=&includeDescendants=&columns=&votingOn=`:
//!   the members of a unit (its subtree by default), streamed in keyset chunks in
//!   constant memory. R11: only members the caller may read, at home in the unit.
//!   R12: a column the caller may not read for every row is left out and named in
//!   `X-Omitted-Columns`. `votingOn=YYYY-MM-DD` gives the accreditation list of an
//!   assembly on that day: members with voting rights who are members that day.
//!
//! Both take `dialect=excel` for German spreadsheets (UTF-8 BOM, `;`, German column
//! names) beside the default `standard`; both defuse formulas (`csv_dialect`).
//!
//! Errors are JSON `{"error": …, "code": …}`: 400 BAD_USER_INPUT naming the
//! parameter, 401 for anonymous callers and bad credentials, 403, 404 for a unit
//! that is missing or invisible (alike).
use super::AppState;
use super::graphql::{Refusal, identify};
use crate::authz::Grants;
use crate::domain::DomainError;
use crate::domain::audit::{self, AuditRecord};
use crate::domain::csv_dialect::{Dialect, defuse};
use crate::domain::reporting::{self, Column, ExportRow, ExportSpec, Interval};
use crate::graphql::id::{Kind, decode};
use async_graphql::ID;
use async_graphql::futures_util::stream;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tower_http::request_id::RequestId;

/// The columns left out of an export because the caller may not read them.
pub const OMITTED_COLUMNS: HeaderName = HeaderName::from_static("x-omitted-columns");
/// The number of rows of an export read per statement (keyset chunks by member id).
pub const CHUNK_ROWS: u64 = 2_000;
/// The action of an export of bank columns in the audit trail.
pub const BANK_EXPORT: &str = "bank.export";

const CSV: HeaderValue = HeaderValue::from_static("text/csv; charset=utf-8");

pub(super) fn error_response(refusal: Refusal) -> Response {
    let body = json!({ "error": refusal.message, "code": refusal.code });
    let mut response = (refusal.status, axum::Json(body)).into_response();
    if refusal.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

pub(super) fn bad_input(parameter: &str, message: &str) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, format!("{parameter}: {message}"), "BAD_USER_INPUT")
}

pub(super) fn from_domain(e: DomainError) -> Refusal {
    match e {
        DomainError::BadInput { field, message } => bad_input(field, &message),
        DomainError::NotFound => Refusal::new(StatusCode::NOT_FOUND, "no such unit", "NOT_FOUND"),
        DomainError::Forbidden(m) | DomainError::Denied { message: m, .. } => {
            Refusal::new(StatusCode::FORBIDDEN, m, "FORBIDDEN")
        }
        DomainError::Conflict(m) | DomainError::Taken { message: m, .. } => {
            Refusal::new(StatusCode::CONFLICT, m, "CONFLICT")
        }
        e @ (DomainError::Unavailable | DomainError::Timeout) => Refusal::failed("an export failed", e),
        DomainError::Db(e) => {
            tracing::error!(error = %e, "database error in an export");
            Refusal::internal()
        }
        DomainError::Internal(m) => {
            tracing::error!(error = %m, "internal error in an export");
            Refusal::internal()
        }
    }
}

/// The query parameters, each at most once; unknown ones are refused so that a
/// typo (`column=`) does not silently export the defaults.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn parse(uri: &Uri, known: &[&str]) -> Result<Self, Refusal> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "malformed query string", "BAD_USER_INPUT"))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if !known.contains(&key.as_str()) {
                let name: String = key.chars().take(40).collect();
                return Err(bad_input(&name, &format!("unknown parameter; known: {}", known.join(", "))));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(bad_input(&key, "given more than once"));
            }
        }
        Ok(Self(map))
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, key: &str) -> Result<&str, Refusal> {
        self.get(key).ok_or_else(|| bad_input(key, "required"))
    }

    fn date(&self, key: &str) -> Result<Option<NaiveDate>, Refusal> {
        self.get(key)
            .map(|v| {
                NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                    .map_err(|_| bad_input(key, "not a date (YYYY-MM-DD)"))
            })
            .transpose()
    }

    fn unit_id(&self, key: &str) -> Result<i64, Refusal> {
        let raw = self.required(key)?;
        decode(&ID(raw.trim().to_owned()), Kind::OrgUnit, key)
            .map_err(|_| bad_input(key, "not an id of an OrgUnit"))
    }

    fn dialect(&self) -> Result<Dialect, Refusal> {
        match self.get("dialect") {
            None => Ok(Dialect::Standard),
            Some(v) => Dialect::parse(v).ok_or_else(|| {
                bad_input("dialect", &format!("must be one of {}", Dialect::NAMES.join(", ")))
            }),
        }
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, Refusal> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" => Ok(false),
            Some(_) => Err(bad_input(key, "must be true or false")),
        }
    }
}

/// A signed-in caller: anonymous callers never see members, so both endpoints
/// answer them 401 like bad credentials.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<Grants>, NaiveDate), Refusal> {
    let who = identify(state, headers).await?;
    if who.grants.user_id().is_none() {
        return Err(Refusal::unauthenticated("authentication required"));
    }
    Ok((who.grants, who.today))
}

fn csv_headers(response: &mut Response, filename: &str) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, CSV);
    // Personal data: never kept by caches or proxies.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
}

/// `GET /reports/member-counts.csv`: the `memberCounts` series as CSV.
pub async fn member_counts_csv(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match member_counts(&state, &headers, &uri).await {
        Ok(response) => response,
        Err(refusal) => error_response(refusal),
    }
}

async fn member_counts(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Response, Refusal> {
    let (grants, _) = signed_in(state, headers).await?;
    let params = Params::parse(uri, &["orgUnitId", "from", "to", "interval", "dialect"])?;
    let unit_id = params.unit_id("orgUnitId")?;
    let dialect = params.dialect()?;
    let from = params.date("from")?.ok_or_else(|| bad_input("from", "required"))?;
    let to = params.date("to")?.ok_or_else(|| bad_input("to", "required"))?;
    let interval = match params.get("interval") {
        None => Interval::Day,
        Some(v) => {
            Interval::parse(v.trim()).ok_or_else(|| bad_input("interval", "must be DAY, WEEK or MONTH"))?
        }
    };
    reporting::check_range(from, to, interval, "to").map_err(from_domain)?;
    let unit = reporting::visible_unit(&state.db, &grants, unit_id).await.map_err(from_domain)?;
    let counts =
        reporting::member_counts(&state.db, &grants, &unit, from, to, interval).await.map_err(from_domain)?;
    let mut body = dialect.preamble().to_vec();
    {
        let mut w = dialect.writer(&mut body);
        let written = w
            .write_record(["period_start", "period_end", "count"].map(|h| dialect.header(h)))
            .and_then(|()| {
                counts.iter().try_for_each(|c| {
                    w.write_record([
                        c.period_start.to_string(),
                        c.period_end.to_string(),
                        c.count.to_string(),
                    ])
                })
            })
            .and_then(|()| w.flush().map_err(csv::Error::from));
        if let Err(e) = written {
            tracing::error!(error = %e, "writing the member counts CSV failed");
            return Err(Refusal::internal());
        }
    }
    let mut response = Response::new(Body::from(body));
    csv_headers(&mut response, &format!("member-counts-{}-{from}-{to}.csv", unit.id));
    Ok(response)
}

/// `GET /exports/members.csv`: a unit's members, streamed.
pub async fn members_csv(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let request_id =
        request_id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    match members(&state, request_id, &headers, &uri).await {
        Ok(response) => response,
        Err(refusal) => error_response(refusal),
    }
}

async fn members(
    state: &AppState,
    request_id: Option<String>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, Refusal> {
    let (grants, today) = signed_in(state, headers).await?;
    let params = Params::parse(uri, &["orgUnitId", "includeDescendants", "columns", "votingOn", "dialect"])?;
    let unit_id = params.unit_id("orgUnitId")?;
    let dialect = params.dialect()?;
    // A unit's export means its whole subtree unless asked otherwise: a Land's
    // members are those of its Bezirke and Stämme.
    let include_descendants = params.flag("includeDescendants", true)?;
    let voting_on = params.date("votingOn")?;
    let wanted = match params.get("columns") {
        None if voting_on.is_some() => Column::ACCREDITATION.to_vec(),
        None => Column::DEFAULT.to_vec(),
        Some(list) => parse_columns(list)?,
    };
    let unit = reporting::visible_unit(&state.db, &grants, unit_id).await.map_err(from_domain)?;
    let spec = ExportSpec { unit_id: unit.id, unit_path: unit.path.clone(), include_descendants, voting_on };
    let (columns, omitted) = reporting::allowed_columns(&grants, &spec, &wanted);
    if columns.is_empty() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "you may not read any of the requested columns here: {}",
                omitted.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
            ),
            "FORBIDDEN",
        ));
    }
    let with_bank = columns.iter().any(|c| c.needs().is_some());
    if with_bank {
        // One audit event per export (unit, filters, columns, rows), written before
        // the first byte: an export of bank data that cannot be audited is refused.
        let rows = reporting::export_row_count(&state.db, &grants, &spec).await.map_err(from_domain)?;
        let after = json!({
            "columns": columns.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "includeDescendants": include_descendants,
            "votingOn": voting_on,
            "rows": rows,
        });
        let record = AuditRecord {
            actor_user_id: grants.user_id(),
            action: BANK_EXPORT,
            entity: "org_unit",
            entity_id: unit.id.to_string(),
            before: None,
            after: Some(after),
            request_id,
        };
        if let Err(e) = audit::record(&state.db, Utc::now(), record).await {
            return Err(Refusal::failed(
                "auditing a bank export failed",
                crate::graphql::error::ApiError::from(e),
            ));
        }
    }
    let filename = match voting_on {
        Some(day) => format!("accreditation-{}-{day}.csv", unit.id),
        None => format!("members-{}-{today}.csv", unit.id),
    };
    let body = stream_rows(state.db.clone(), grants, spec, columns, with_bank, dialect);
    let mut response = Response::new(body);
    csv_headers(&mut response, &filename);
    if !omitted.is_empty() {
        let names = omitted.iter().map(|c| c.name()).collect::<Vec<_>>().join(",");
        if let Ok(value) = HeaderValue::from_str(&names) {
            response.headers_mut().insert(OMITTED_COLUMNS, value);
        }
    }
    Ok(response)
}

/// `columns=lastName,firstName,iban`: known names only, in the caller's order,
/// each once.
fn parse_columns(list: &str) -> Result<Vec<Column>, Refusal> {
    let mut columns = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(column) = Column::parse(name) else {
            let shown: String = name.chars().take(40).collect();
            let known = Column::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
            return Err(bad_input("columns", &format!("unknown column {shown:?}; known: {known}")));
        };
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    if columns.is_empty() {
        return Err(bad_input("columns", "names no column"));
    }
    Ok(columns)
}

/// The CSV body: a task reads chunk after chunk and hands each over through a
/// channel of two chunks, so reading the next chunk overlaps with sending the last
/// one, a slow client holds back the reads, and memory stays constant. A failure
/// mid-stream aborts the body (the client sees a broken transfer, never a short
/// file that looks complete).
fn stream_rows(
    db: DatabaseConnection,
    grants: Arc<Grants>,
    spec: ExportSpec,
    columns: Vec<Column>,
    with_bank: bool,
    dialect: Dialect,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let failed = || std::io::Error::other("export failed");
        // The preamble and the header row go out with the first chunk.
        let mut out = dialect.preamble().to_vec();
        let header = {
            let mut w = dialect.writer(&mut out);
            w.write_record(columns.iter().map(|c| dialect.header(c.name())))
                .and_then(|()| w.flush().map_err(csv::Error::from))
        };
        if let Err(e) = header {
            tracing::error!(error = %e, "writing an export header failed");
            let _ = tx.send(Err(failed())).await;
            return;
        }
        let mut after = 0_i64;
        loop {
            let rows = match reporting::export_chunk(&db, &grants, &spec, after, CHUNK_ROWS, with_bank).await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "reading an export chunk failed");
                    let _ = tx.send(Err(failed())).await;
                    return;
                }
            };
            let last_chunk = (rows.len() as u64) < CHUNK_ROWS;
            // A writer per chunk: each chunk holds whole records only.
            let written = {
                let mut w = dialect.writer(&mut out);
                rows.iter()
                    .try_for_each(|row| write_row(&mut w, &columns, row))
                    .and_then(|()| w.flush().map_err(csv::Error::from))
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "writing an export chunk failed");
                let _ = tx.send(Err(failed())).await;
                return;
            }
            if let Some(last) = rows.last() {
                after = last.member.id;
            }
            if !out.is_empty() && tx.send(Ok(Bytes::from(std::mem::take(&mut out)))).await.is_err() {
                // The client went away: stop reading.
                return;
            }
            if last_chunk {
                return;
            }
        }
    });
    Body::from_stream(stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// One member's record. Text goes through `defuse`; dates, status and flags are
/// written as they are (they never start like a formula).
fn write_row<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    columns: &[Column],
    row: &ExportRow,
) -> Result<(), csv::Error> {
    let m = &row.member;
    let bank = row.bank.as_ref();
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for column in columns {
        match column {
            Column::MembershipNumber => w.write_field(defuse(&m.membership_number).as_bytes())?,
            Column::FirstName => w.write_field(defuse(&m.first_name).as_bytes())?,
            Column::LastName => w.write_field(defuse(&m.last_name).as_bytes())?,
            Column::Email => w.write_field(defuse(m.email.as_deref().unwrap_or_default()).as_bytes())?,
            Column::Phone => w.write_field(defuse(m.phone.as_deref().unwrap_or_default()).as_bytes())?,
            Column::Street => w.write_field(defuse(m.street.as_deref().unwrap_or_default()).as_bytes())?,
            Column::PostalCode => {
                w.write_field(defuse(m.postal_code.as_deref().unwrap_or_default()).as_bytes())?
            }
            Column::City => w.write_field(defuse(m.city.as_deref().unwrap_or_default()).as_bytes())?,
            Column::Country => w.write_field(defuse(m.country.as_deref().unwrap_or_default()).as_bytes())?,
            Column::BirthDate => w.write_field(date(m.birth_date))?,
            Column::Status => w.write_field(m.status.as_str())?,
            Column::JoinedOn => w.write_field(date(m.joined_on))?,
            Column::LeftOn => w.write_field(date(m.left_on))?,
            Column::VotingRights => w.write_field(if m.voting_rights { "true" } else { "false" })?,
            Column::HomeUnit => w.write_field(defuse(&row.home_unit_name).as_bytes())?,
            Column::Iban => {
                w.write_field(defuse(bank.map(|b| b.iban.as_str()).unwrap_or_default()).as_bytes())?
            }
            Column::Bic => {
                w.write_field(defuse(bank.and_then(|b| b.bic.as_deref()).unwrap_or_default()).as_bytes())?
            }
            Column::AccountHolder => {
                w.write_field(defuse(bank.map(|b| b.account_holder.as_str()).unwrap_or_default()).as_bytes())?
            }
        }
    }
    // An empty record ends the one built field by field.
    w.write_record(std::iter::empty::<&[u8]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_known_names_once() {
        assert!(parse_columns("lastName, firstName,iban").is_ok());
        assert_eq!(parse_columns("lastName,lastName").map(|c| c.len()).ok(), Some(1));
        assert!(parse_columns("lastName,password").is_err());
        assert!(parse_columns(" , ").is_err());
    }
}
