//! Test helpers: databases from templates, the server, a GraphQL client, signing
//! in as a demo persona.
#![allow(dead_code)]

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{OnceCell, oneshot};
use verband::auth::password::PasswordHasher;
use verband::clock::Clock;
use verband::config::{PasswordParams, Settings};
use verband::domain::seed::demo::DEMO_PASSWORD;
use verband::{App, db};

/// Tests run on a fixed day so that date rules do not drift.
pub const TODAY: (i32, u32, u32) = (2026, 3, 15);

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("date")
}

/// Cheap argon2 parameters: tests check behaviour, not hashing cost.
pub fn cheap_password_params() -> PasswordParams {
    PasswordParams { memory_kib: 256, iterations: 1, parallelism: 1 }
}

pub fn hasher() -> PasswordHasher {
    PasswordHasher::new(cheap_password_params()).expect("hasher")
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("VERBAND_TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))
}

pub fn is_postgres() -> bool {
    postgres_admin_url().is_some()
}

/// A connection to the PostgreSQL server's administrative database (to create,
/// block or drop test databases), None on SQLite.
pub async fn postgres_admin() -> Option<DatabaseConnection> {
    match postgres_admin_url() {
        Some(url) => Some(Database::connect(&url).await.expect("connect to PostgreSQL")),
        None => None,
    }
}

/// `postgres://host/dbname?x` → `postgres://host/<name>?x`
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = base.rsplit_once('/').map(|(p, _)| p).unwrap_or(base);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Empty,
    Demo,
}

pub const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken tokenType expiresAt } }";

/// One test's database.
pub struct TestDb {
    pub url: String,
    pub data_dir: PathBuf,
    /// None for a second handle on another test's database (`shared`).
    _dir: Option<tempfile::TempDir>,
}

static EMPTY_TEMPLATE: OnceCell<String> = OnceCell::const_new();
static DEMO_TEMPLATE: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn prepare_template(kind: Template, url: String) -> String {
    let settings = settings_for(&url, std::env::temp_dir());
    let conn = db::connect_for_maintenance(&settings).await.expect("connect template");
    db::migrate(&conn).await.expect("migrate template");
    if kind == Template::Demo {
        verband::domain::seed::demo::seed(&conn, &hasher(), Clock::Fixed(today())).await.expect("demo seed");
    }
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        conn.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.expect("checkpoint");
    }
    conn.close().await.expect("close template");
    url
}

async fn template(kind: Template) -> &'static str {
    let cell = match kind {
        Template::Empty => &EMPTY_TEMPLATE,
        Template::Demo => &DEMO_TEMPLATE,
    };
    let suffix = match kind {
        Template::Empty => "empty",
        Template::Demo => "demo",
    };
    cell.get_or_init(|| async move {
        match postgres_admin_url() {
            Some(admin) => {
                let admin_conn = Database::connect(&admin).await.expect("connect to PostgreSQL");
                drop_stale_databases(&admin_conn).await;
                let name = format!("verband_tpl_{suffix}_{}", std::process::id());
                admin_conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await
                    .expect("drop");
                admin_conn
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create template");
                admin_conn.close().await.ok();
                prepare_template(kind, with_database(&admin, &name)).await;
                name
            }
            None => {
                let dir = std::env::temp_dir().join(format!("verband-tpl-{}-{suffix}", std::process::id()));
                std::fs::create_dir_all(&dir).expect("template dir");
                let file = dir.join("verband.db");
                let _ = std::fs::remove_file(&file);
                prepare_template(kind, format!("sqlite://{}?mode=rwc", file.display())).await;
                file.display().to_string()
            }
        }
    })
    .await
}

/// The test process that made a database (its name carries the process id) still
/// runs: its databases are in use by a concurrent test run.
fn owner_alive(name: &str) -> bool {
    // `verband_tpl_<kind>_<pid>` and `verband_t_<pid>_<n>`.
    let parts: Vec<&str> = name.split('_').collect();
    let pid = match parts.as_slice() {
        ["verband", "tpl", _, pid] => pid.parse::<u32>().ok(),
        ["verband", "t", pid, _] => pid.parse::<u32>().ok(),
        _ => None,
    };
    pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Databases of earlier runs (other process ids, no longer running) are dropped.
async fn drop_stale_databases(admin: &DatabaseConnection) {
    let mine = format!("_{}", std::process::id());
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'verband_t%'".to_owned(),
        ))
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let is_mine = name.ends_with(&mine) || name.contains(&format!("{mine}_"));
        if !is_mine && !owner_alive(&name) {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

impl TestDb {
    pub async fn new(kind: Template) -> TestDb {
        let tpl = template(kind).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match postgres_admin_url() {
            Some(admin) => {
                let name =
                    format!("verband_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
                let admin_conn = Database::connect(&admin).await.expect("connect to PostgreSQL");
                admin_conn
                    .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {tpl}"))
                    .await
                    .expect("create test database");
                admin_conn.close().await.ok();
                with_database(&admin, &name)
            }
            None => {
                let file = dir.path().join("verband.db");
                std::fs::copy(tpl, &file).expect("copy template");
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        TestDb { url, data_dir: dir.path().to_path_buf(), _dir: Some(dir) }
    }

    /// The same database and data directory (so the same signing keys), for a
    /// second server instance; it must not outlive `self`.
    pub fn shared(&self) -> TestDb {
        TestDb { url: self.url.clone(), data_dir: self.data_dir.clone(), _dir: None }
    }

    pub async fn empty() -> TestDb {
        Self::new(Template::Empty).await
    }

    pub async fn demo() -> TestDb {
        Self::new(Template::Demo).await
    }

    pub fn settings(&self) -> Settings {
        settings_for(&self.url, self.data_dir.clone())
    }

    /// The PostgreSQL database's name (the last path segment of the URL).
    pub fn name(&self) -> &str {
        let base = self.url.split('?').next().unwrap_or(&self.url);
        base.rsplit('/').next().unwrap_or(base)
    }

    pub async fn connect(&self) -> DatabaseConnection {
        db::connect(&self.settings()).await.expect("connect")
    }
}

fn settings_for(url: &str, data_dir: PathBuf) -> Settings {
    let mut s = Settings::sqlite_in(&data_dir);
    s.database_url = url.to_owned();
    s.listen = "127.0.0.1:0".parse().expect("addr");
    s.demo_data = false;
    s.db_max_connections = 5;
    s.password = cheap_password_params();
    s.clock = Clock::Fixed(today());
    s
}

/// The real server on a random port.
pub struct TestServer {
    pub base: String,
    pub db: TestDb,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = db.settings();
        adjust(&mut settings);
        let app = App::build(settings).await.expect("app builds");
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestServer { base, db, client: reqwest::Client::new(), shutdown: Some(tx) }
    }

    pub async fn demo() -> TestServer {
        Self::start(TestDb::demo().await).await
    }

    /// POSTs a query; returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestServer {
    pub async fn login(&self, username: &str, password: &str) -> Value {
        self.gql(LOGIN, json!({ "u": username, "p": password })).await
    }

    pub async fn token(&self, username: &str) -> String {
        let body = self.login(username, DEMO_PASSWORD).await;
        body["data"]["login"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login {username}: {body}"))
            .to_owned()
    }

    /// A query with `Authorization: Bearer <token>`: (status, body).
    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        self.gql_with_auth(&format!("Bearer {token}"), query, variables).await
    }

    /// The same request on a task of its own: start many, then await them all, and
    /// they reach the server at the same time.
    pub fn spawn_gql_as(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> tokio::task::JoinHandle<(u16, Value)> {
        let request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("authorization", format!("Bearer {token}"))
            .json(&json!({ "query": query, "variables": variables }));
        tokio::spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json().await.expect("json"))
        })
    }

    pub async fn gql_with_auth(&self, authorization: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("authorization", authorization)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    pub async fn user(&self, username: &str) -> entity::user::Model {
        let conn = self.db.connect().await;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::user::Entity::find()
            .filter(entity::user::Column::Username.eq(username))
            .one(&conn)
            .await
            .expect("q")
            .expect("user")
    }
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

pub fn error_field(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["field"].as_str()
}

/// A Relay global id, as the API encodes it: `base64("Member:12")`.
pub fn gid(kind: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The text of a global id: a string, or a JSON string from a response.
pub trait IdText {
    fn id_text(&self) -> &str;
}

impl IdText for str {
    fn id_text(&self) -> &str {
        self
    }
}

impl IdText for String {
    fn id_text(&self) -> &str {
        self
    }
}

impl IdText for Value {
    fn id_text(&self) -> &str {
        self.as_str().unwrap_or_else(|| panic!("an id: {self}"))
    }
}

/// The database id inside a global id.
pub fn raw_id<T: IdText + ?Sized>(global: &T) -> i64 {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global.id_text()).expect("base64 id");
    let text = String::from_utf8(bytes).expect("utf8");
    text.split_once(':').expect("kind:id").1.parse().expect("number")
}

/// A unit by name.
pub async fn unit(conn: &DatabaseConnection, name: &str) -> entity::org_unit::Model {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::org_unit::Entity::find()
        .filter(entity::org_unit::Column::Name.eq(name))
        .one(conn)
        .await
        .expect("q")
        .unwrap_or_else(|| panic!("unit {name}"))
}

/// ACTIVE members whose home unit is in the subtree of `unit_name` and who have no
/// login (so no persona's own record), by id.
pub async fn members_without_login(conn: &DatabaseConnection, unit_name: &str) -> Vec<entity::member::Model> {
    use entity::{member, org_unit, user};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use std::collections::BTreeSet;
    let root = unit(conn, unit_name).await;
    let units: BTreeSet<i64> = org_unit::Entity::find()
        .all(conn)
        .await
        .expect("units")
        .into_iter()
        .filter(|u| u.path.starts_with(&root.path))
        .map(|u| u.id)
        .collect();
    let with_login: BTreeSet<i64> = user::Entity::find()
        .all(conn)
        .await
        .expect("users")
        .into_iter()
        .filter_map(|u| u.member_id)
        .collect();
    member::Entity::find()
        .filter(member::Column::Status.eq(entity::MemberStatus::Active))
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await
        .expect("members")
        .into_iter()
        .filter(|m| units.contains(&m.home_unit_id) && !with_login.contains(&m.id))
        .collect()
}

/// The server's count of SQL statements so far (`/metrics`), for the statements one
/// request causes (tests that use it send one request at a time).
pub async fn statements_so_far(server: &TestServer) -> u64 {
    let text = server.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("verband_sql_statements_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .expect("verband_sql_statements_total on /metrics")
}
