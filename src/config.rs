//! Configuration: defaults, then an optional TOML file, then `VERBAND_*` environment
//! variables (each later source wins). Secrets are never logged: `Debug` of
//! `Settings` redacts the database URL's password.
use crate::auth::tokens::{KeyError, SigningKey, load_or_create_key_file, parse_keys};
use crate::clock::Clock;
use crate::graphql::cost::Limits;
use crate::http::client::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Who may use GraphQL introspection (`__schema`, `__type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Introspection {
    /// Everybody: GraphiQL's documentation and code generators work anonymously.
    On,
    /// Signed-in callers only.
    SignedIn,
    Off,
}

impl std::str::FromStr for Introspection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(Self::On),
            "signed_in" => Ok(Self::SignedIn),
            "off" => Ok(Self::Off),
            other => Err(format!("expected on, signed_in or off, got {other:?}")),
        }
    }
}

/// Every environment variable verband reads (the server, its commands and its
/// tests). Anything else starting with `VERBAND_` is most likely a typo and is
/// warned about at start ([`unknown_variables`]).
pub const KNOWN_VARIABLES: &[&str] = &[
    "VERBAND_CONFIG",
    "VERBAND_DATABASE_URL",
    "VERBAND_DATA_DIR",
    "VERBAND_LISTEN",
    "VERBAND_DEMO_DATA",
    "VERBAND_DB_MAX_CONNECTIONS",
    "VERBAND_DB_STATEMENT_TIMEOUT_MS",
    "VERBAND_DB_ACQUIRE_TIMEOUT_MS",
    "VERBAND_MAX_BODY_BYTES",
    "VERBAND_MAX_IMPORT_BYTES",
    "VERBAND_IMPORT_TIMEOUT_SECONDS",
    "VERBAND_MAX_QUERY_DEPTH",
    "VERBAND_MAX_QUERY_COMPLEXITY",
    "VERBAND_MAX_QUERY_BYTES",
    "VERBAND_MAX_QUERY_TOKENS",
    "VERBAND_MAX_QUERY_FIELDS",
    "VERBAND_MAX_ROOT_FIELDS",
    "VERBAND_MAX_MUTATION_FIELDS",
    "VERBAND_REQUEST_TIMEOUT_SECONDS",
    "VERBAND_PERSISTED_QUERIES",
    "VERBAND_MAX_CONNECTIONS_PER_REQUEST",
    "VERBAND_INTROSPECTION",
    "VERBAND_LOGIN_ADDRESS_MAX_FAILURES",
    "VERBAND_LOGIN_ADDRESS_WINDOW_SECONDS",
    "VERBAND_TRUSTED_PROXIES",
    "VERBAND_LOG_FORMAT",
    "VERBAND_LOG",
    "VERBAND_PASSWORD_MEMORY_KIB",
    "VERBAND_PASSWORD_ITERATIONS",
    "VERBAND_PASSWORD_PARALLELISM",
    "VERBAND_TOKEN_KEYS",
    "VERBAND_TOKEN_ISSUER",
    "VERBAND_TOKEN_AUDIENCE",
    "VERBAND_TOKEN_TTL_SECONDS",
    "VERBAND_LOGIN_MAX_FAILURES",
    "VERBAND_LOGIN_LOCKOUT_SECONDS",
    "VERBAND_PUBLIC_URL",
    "VERBAND_CORS_ORIGINS",
    "VERBAND_OIDC_ISSUER",
    "VERBAND_OIDC_AUDIENCE",
    "VERBAND_OIDC_CLIENT_ID",
    "VERBAND_OIDC_CLIENT_SECRET",
    "VERBAND_BOOTSTRAP_PASSWORD",
    "VERBAND_TEST_DATABASE_URL",
];

/// A `VERBAND_*` variable that verband does not read, with the known name it most
/// likely meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    pub name: String,
    pub did_you_mean: Option<&'static str>,
}

/// The `VERBAND_*` names among `names` that are not in [`KNOWN_VARIABLES`].
pub fn unknown_variables(names: impl IntoIterator<Item = String>) -> Vec<UnknownVariable> {
    let mut unknown: Vec<UnknownVariable> = names
        .into_iter()
        .filter(|n| n.starts_with("VERBAND_") && !KNOWN_VARIABLES.contains(&n.as_str()))
        .map(|name| {
            // Close enough to be a typo: a third of the part after the prefix, at
            // least one edit.
            let budget = ((name.len() - "VERBAND_".len()) / 3).max(1);
            let did_you_mean = KNOWN_VARIABLES
                .iter()
                .map(|known| (edit_distance(&name, known), *known))
                .filter(|(d, _)| *d <= budget)
                .min_by_key(|(d, _)| *d)
                .map(|(_, known)| known);
            UnknownVariable { name, did_you_mean }
        })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// argon2id cost parameters (OWASP's minimum by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Load the demo data into an empty database at start.
    pub demo_data: bool,
    pub db_max_connections: u32,
    /// The longest a statement may run (SQLite: also the longest wait for the
    /// write lock).
    pub db_statement_timeout: std::time::Duration,
    /// The longest a request waits for a pooled connection, also while the
    /// database is unreachable.
    pub db_acquire_timeout: std::time::Duration,
    pub max_body_bytes: usize,
    /// What one GraphQL request may cost: text, depth, cost, fields, root fields.
    pub limits: Limits,
    /// The time budget of a GraphQL query (mutations are never cut off).
    pub request_timeout: std::time::Duration,
    /// Automatic persisted queries kept per instance (0: the protocol is off).
    pub persisted_queries: usize,
    /// Pooled connections one request may use at the same time.
    pub max_connections_per_request: u32,
    pub introspection: Introspection,
    /// Largest CSV file `POST /imports/members.csv` takes (it streams, so this
    /// bounds the time an import runs, not memory).
    pub max_import_bytes: usize,
    /// How long an import may run before it is stopped (and rolled back).
    pub import_timeout_seconds: u64,
    pub log_format: LogFormat,
    pub password: PasswordParams,
    /// Access tokens of local sign-in.
    pub tokens: TokenSettings,
    /// Failed logins before a lockout, and its length.
    pub login_max_failures: u32,
    pub login_lockout_seconds: u64,
    /// Failed sign-ins from one client address within the window before that
    /// address is refused (sliding window).
    pub login_address_max_failures: u32,
    pub login_address_window_seconds: u64,
    /// Proxies whose `X-Forwarded-For` names the client; nobody's by default.
    pub trusted_proxies: Vec<IpNet>,
    /// OpenID Connect issuers whose bearer tokens are accepted.
    pub oidc: Vec<OidcIssuer>,
    /// Where browsers reach this server, e.g. `https://mv.example.org`; by default
    /// `http://<listen address>`.
    pub public_url: Option<String>,
    /// Origins (`https://app.example.org`) whose browser front ends may call the API
    /// (CORS); none by default. Validated and normalised (lower case, no default
    /// port).
    pub cors_origins: Vec<String>,
    /// Floor between two JWKS fetches per issuer (tests lower it).
    pub oidc_min_refresh: std::time::Duration,
    /// Not configurable from outside: tests fix the date here.
    pub clock: Clock,
}

/// One trusted OpenID Connect issuer (resource server side).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// Exactly the `iss` of its tokens; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` its tokens must carry for this API.
    pub audience: String,
    /// For token introspection and the browser sign-in.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for OidcIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
    /// Empty: a key file in the data directory is used (made on first start).
    pub keys: Vec<SigningKey>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self { issuer: "verband".into(), audience: "verband".into(), ttl_seconds: 900, keys: Vec::new() }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("demo_data", &self.demo_data)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_statement_timeout", &self.db_statement_timeout)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("limits", &self.limits)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections_per_request", &self.max_connections_per_request)
            .field("introspection", &self.introspection)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("import_timeout_seconds", &self.import_timeout_seconds)
            .field("log_format", &self.log_format)
            .field("tokens", &self.tokens)
            .field("oidc", &self.oidc)
            .field("cors_origins", &self.cors_origins)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The TOML file: every key optional, same names as the environment variables
/// without the `VERBAND_` prefix, in lower case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    demo_data: Option<bool>,
    db_max_connections: Option<u32>,
    db_statement_timeout_ms: Option<u64>,
    db_acquire_timeout_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    max_query_depth: Option<u32>,
    max_query_complexity: Option<u64>,
    max_query_bytes: Option<usize>,
    max_query_tokens: Option<usize>,
    max_query_fields: Option<u64>,
    max_root_fields: Option<u64>,
    max_mutation_fields: Option<u64>,
    request_timeout_seconds: Option<u64>,
    persisted_queries: Option<usize>,
    max_connections_per_request: Option<u32>,
    introspection: Option<Introspection>,
    login_address_max_failures: Option<u32>,
    login_address_window_seconds: Option<u64>,
    trusted_proxies: Option<String>,
    max_import_bytes: Option<usize>,
    import_timeout_seconds: Option<u64>,
    log_format: Option<LogFormat>,
    password_memory_kib: Option<u32>,
    password_iterations: Option<u32>,
    password_parallelism: Option<u32>,
    token_issuer: Option<String>,
    token_audience: Option<String>,
    token_ttl_seconds: Option<u64>,
    token_keys: Option<String>,
    login_max_failures: Option<u32>,
    login_lockout_seconds: Option<u64>,
    oidc: Option<Vec<OidcIssuer>>,
    public_url: Option<String>,
    cors_origins: Option<OneOrList>,
}

/// A list in the file, or the environment's comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrList {
    One(String),
    List(Vec<String>),
}

/// `https://App.example.org:443` → `https://app.example.org`: an origin as browsers
/// send it in `Origin`, so that it compares byte for byte.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "*" || raw.contains('*') {
        return Err("wildcards are not accepted: list each origin".into());
    }
    let lower = raw.to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .filter(|(scheme, _)| *scheme == "http" || *scheme == "https")
        .ok_or_else(|| format!("{raw:?} is not an origin: it starts with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace) {
        return Err(format!(
            "{raw:?} is not an origin: scheme, host and port only, e.g. https://app.example.org"
        ));
    }
    let authority: axum::http::uri::Authority =
        rest.parse().map_err(|_| format!("{raw:?} is not an origin: bad host or port"))?;
    let has_port = authority.as_str() != authority.host();
    if has_port && authority.port_u16().is_none() {
        return Err(format!("{raw:?} is not an origin: bad port"));
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{}:{port}", authority.host()),
        _ => format!("{scheme}://{}", authority.host()),
    })
}

fn parse_origins(list: OneOrList) -> Result<Vec<String>, ConfigError> {
    let items = match list {
        OneOrList::One(s) => s.split(',').map(str::to_owned).collect(),
        OneOrList::List(v) => v,
    };
    let mut origins = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let origin = parse_origin(item)
            .map_err(|message| ConfigError::Invalid { key: "VERBAND_CORS_ORIGINS", message })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

impl Settings {
    /// Settings for the embedded SQLite database in `data_dir`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self {
            database_url: sqlite_url(data_dir),
            data_dir: data_dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            demo_data: true,
            db_max_connections: 10,
            db_statement_timeout: std::time::Duration::from_secs(5),
            db_acquire_timeout: std::time::Duration::from_secs(2),
            max_body_bytes: 1024 * 1024,
            limits: Limits::default(),
            request_timeout: std::time::Duration::from_secs(10),
            persisted_queries: 1_000,
            max_connections_per_request: 3,
            introspection: Introspection::On,
            max_import_bytes: 64 * 1024 * 1024,
            import_timeout_seconds: 600,
            log_format: LogFormat::Text,
            password: PasswordParams::default(),
            tokens: TokenSettings::default(),
            login_max_failures: 5,
            login_lockout_seconds: 900,
            login_address_max_failures: 10,
            login_address_window_seconds: 900,
            trusted_proxies: Vec::new(),
            oidc: Vec::new(),
            public_url: None,
            cors_origins: Vec::new(),
            oidc_min_refresh: crate::auth::oidc::DEFAULT_MIN_REFRESH,
            clock: Clock::System,
        }
    }

    /// Defaults, then the TOML file (`VERBAND_CONFIG`, else `./verband.toml` if it
    /// exists), then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let file_path = env("VERBAND_CONFIG").map(PathBuf::from).or_else(|| {
            let p = PathBuf::from("verband.toml");
            p.exists().then_some(p)
        });
        let file = match file_path {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError::Parse { path, message: e.message().to_owned() })?
            }
            None => FileConfig::default(),
        };
        Self::from_sources(file, env)
    }

    fn from_sources(file: FileConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn parse<T: std::str::FromStr>(
            key: &'static str,
            value: Option<String>,
        ) -> Result<Option<T>, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value
                .map(|v| v.parse::<T>().map_err(|e| ConfigError::Invalid { key, message: e.to_string() }))
                .transpose()
        }

        // Read before the file's other values are taken out of it.
        let request_limits = limits(&env, &file, Limits::default())?;
        let data_dir = env("VERBAND_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let mut s = Self::sqlite_in(&data_dir);
        let explicit_url = env("VERBAND_DATABASE_URL").or(file.database_url);
        // The demo is for the embedded default; a configured database starts empty
        // unless asked.
        s.demo_data = explicit_url.is_none();
        if let Some(url) = explicit_url {
            s.database_url = url;
        }
        if let Some(v) = parse("VERBAND_LISTEN", env("VERBAND_LISTEN"))?.or(file.listen) {
            s.listen = v;
        }
        if let Some(v) = parse("VERBAND_DEMO_DATA", env("VERBAND_DEMO_DATA"))?.or(file.demo_data) {
            s.demo_data = v;
        }
        if let Some(v) = parse("VERBAND_DB_MAX_CONNECTIONS", env("VERBAND_DB_MAX_CONNECTIONS"))?
            .or(file.db_max_connections)
        {
            s.db_max_connections = v.max(1);
        }
        if let Some(v) = parse("VERBAND_DB_STATEMENT_TIMEOUT_MS", env("VERBAND_DB_STATEMENT_TIMEOUT_MS"))?
            .or(file.db_statement_timeout_ms)
        {
            s.db_statement_timeout = millis("VERBAND_DB_STATEMENT_TIMEOUT_MS", v)?;
        }
        if let Some(v) = parse("VERBAND_DB_ACQUIRE_TIMEOUT_MS", env("VERBAND_DB_ACQUIRE_TIMEOUT_MS"))?
            .or(file.db_acquire_timeout_ms)
        {
            s.db_acquire_timeout = millis("VERBAND_DB_ACQUIRE_TIMEOUT_MS", v)?;
        }
        if let Some(v) =
            parse("VERBAND_MAX_BODY_BYTES", env("VERBAND_MAX_BODY_BYTES"))?.or(file.max_body_bytes)
        {
            s.max_body_bytes = v;
        }
        s.limits = request_limits;
        if let Some(v) =
            parse("VERBAND_MAX_IMPORT_BYTES", env("VERBAND_MAX_IMPORT_BYTES"))?.or(file.max_import_bytes)
        {
            s.max_import_bytes = v;
        }
        if let Some(v) = parse("VERBAND_IMPORT_TIMEOUT_SECONDS", env("VERBAND_IMPORT_TIMEOUT_SECONDS"))?
            .or(file.import_timeout_seconds)
        {
            s.import_timeout_seconds = v.max(1);
        }
        if let Some(v) =
            parse("VERBAND_PERSISTED_QUERIES", env("VERBAND_PERSISTED_QUERIES"))?.or(file.persisted_queries)
        {
            s.persisted_queries = v;
        }
        if let Some(v) = parse("VERBAND_REQUEST_TIMEOUT_SECONDS", env("VERBAND_REQUEST_TIMEOUT_SECONDS"))?
            .or(file.request_timeout_seconds)
        {
            s.request_timeout = std::time::Duration::from_secs(v.max(1));
        }
        if let Some(v) =
            parse("VERBAND_MAX_CONNECTIONS_PER_REQUEST", env("VERBAND_MAX_CONNECTIONS_PER_REQUEST"))?
                .or(file.max_connections_per_request)
        {
            s.max_connections_per_request = v.max(2);
        }
        if let Some(v) = parse("VERBAND_INTROSPECTION", env("VERBAND_INTROSPECTION"))?.or(file.introspection)
        {
            s.introspection = v;
        }
        if let Some(v) =
            parse("VERBAND_LOGIN_ADDRESS_MAX_FAILURES", env("VERBAND_LOGIN_ADDRESS_MAX_FAILURES"))?
                .or(file.login_address_max_failures)
        {
            s.login_address_max_failures = v.max(1);
        }
        if let Some(v) =
            parse("VERBAND_LOGIN_ADDRESS_WINDOW_SECONDS", env("VERBAND_LOGIN_ADDRESS_WINDOW_SECONDS"))?
                .or(file.login_address_window_seconds)
        {
            s.login_address_window_seconds = v;
        }
        if let Some(v) = env("VERBAND_TRUSTED_PROXIES").or(file.trusted_proxies) {
            s.trusted_proxies = crate::http::client::parse_list(&v)
                .map_err(|message| ConfigError::Invalid { key: "VERBAND_TRUSTED_PROXIES", message })?;
        }
        if let Some(v) = env("VERBAND_LOG_FORMAT") {
            s.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "VERBAND_LOG_FORMAT",
                        message: format!("expected text or json, got {other:?}"),
                    });
                }
            };
        } else if let Some(v) = file.log_format {
            s.log_format = v;
        }
        if let Some(v) = parse("VERBAND_PASSWORD_MEMORY_KIB", env("VERBAND_PASSWORD_MEMORY_KIB"))?
            .or(file.password_memory_kib)
        {
            s.password.memory_kib = v;
        }
        if let Some(v) = parse("VERBAND_PASSWORD_ITERATIONS", env("VERBAND_PASSWORD_ITERATIONS"))?
            .or(file.password_iterations)
        {
            s.password.iterations = v;
        }
        if let Some(v) = parse("VERBAND_PASSWORD_PARALLELISM", env("VERBAND_PASSWORD_PARALLELISM"))?
            .or(file.password_parallelism)
        {
            s.password.parallelism = v;
        }
        if let Some(v) = env("VERBAND_TOKEN_ISSUER").or(file.token_issuer) {
            s.tokens.issuer = v;
        }
        if let Some(v) = env("VERBAND_TOKEN_AUDIENCE").or(file.token_audience) {
            s.tokens.audience = v;
        }
        if let Some(v) =
            parse("VERBAND_TOKEN_TTL_SECONDS", env("VERBAND_TOKEN_TTL_SECONDS"))?.or(file.token_ttl_seconds)
        {
            s.tokens.ttl_seconds = v;
        }
        if let Some(v) = env("VERBAND_TOKEN_KEYS").or(file.token_keys) {
            s.tokens.keys = parse_keys(&v)
                .map_err(|e| ConfigError::Invalid { key: "VERBAND_TOKEN_KEYS", message: e.to_string() })?;
        }
        if let Some(v) = parse("VERBAND_LOGIN_MAX_FAILURES", env("VERBAND_LOGIN_MAX_FAILURES"))?
            .or(file.login_max_failures)
        {
            s.login_max_failures = v.max(1);
        }
        if let Some(v) = parse("VERBAND_LOGIN_LOCKOUT_SECONDS", env("VERBAND_LOGIN_LOCKOUT_SECONDS"))?
            .or(file.login_lockout_seconds)
        {
            s.login_lockout_seconds = v;
        }
        if let Some(v) = env("VERBAND_PUBLIC_URL").or(file.public_url) {
            s.public_url = Some(v);
        }
        if let Some(list) = env("VERBAND_CORS_ORIGINS").map(OneOrList::One).or(file.cors_origins) {
            s.cors_origins = parse_origins(list)?;
        }
        if let Some(list) = file.oidc {
            s.oidc = list;
        }
        // One issuer can also come from the environment (more through the file).
        if let Some(issuer) = env("VERBAND_OIDC_ISSUER") {
            let audience = env("VERBAND_OIDC_AUDIENCE").ok_or(ConfigError::Invalid {
                key: "VERBAND_OIDC_AUDIENCE",
                message: "required with VERBAND_OIDC_ISSUER".into(),
            })?;
            s.oidc.push(OidcIssuer {
                issuer,
                audience,
                client_id: env("VERBAND_OIDC_CLIENT_ID"),
                client_secret: env("VERBAND_OIDC_CLIENT_SECRET"),
            });
        }
        Ok(s)
    }

    /// The configured signing keys, or the data directory's key file.
    pub fn signing_keys(&self) -> Result<Vec<SigningKey>, KeyError> {
        if self.tokens.keys.is_empty() {
            load_or_create_key_file(&self.data_dir.join("token-keys"))
        } else {
            Ok(self.tokens.keys.clone())
        }
    }
}

/// The request limits: each from the environment, else the file, else `defaults`.
fn limits(
    env: &impl Fn(&str) -> Option<String>,
    file: &FileConfig,
    defaults: Limits,
) -> Result<Limits, ConfigError> {
    fn pick<T: std::str::FromStr + Copy>(
        key: &'static str,
        env: &impl Fn(&str) -> Option<String>,
        file: Option<T>,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match env(key) {
            Some(v) => v.parse::<T>().map_err(|e| ConfigError::Invalid { key, message: e.to_string() }),
            None => Ok(file.unwrap_or(default)),
        }
    }
    Ok(Limits {
        max_query_bytes: pick(
            "VERBAND_MAX_QUERY_BYTES",
            env,
            file.max_query_bytes,
            defaults.max_query_bytes,
        )?,
        max_tokens: pick("VERBAND_MAX_QUERY_TOKENS", env, file.max_query_tokens, defaults.max_tokens)?,
        max_depth: pick("VERBAND_MAX_QUERY_DEPTH", env, file.max_query_depth, defaults.max_depth)?,
        max_cost: pick("VERBAND_MAX_QUERY_COMPLEXITY", env, file.max_query_complexity, defaults.max_cost)?,
        max_fields: pick("VERBAND_MAX_QUERY_FIELDS", env, file.max_query_fields, defaults.max_fields)?,
        max_root_fields: pick(
            "VERBAND_MAX_ROOT_FIELDS",
            env,
            file.max_root_fields,
            defaults.max_root_fields,
        )?,
        max_mutation_fields: pick(
            "VERBAND_MAX_MUTATION_FIELDS",
            env,
            file.max_mutation_fields,
            defaults.max_mutation_fields,
        )?,
        ..defaults
    })
}

/// A time limit in milliseconds: never zero (every statement has a limit).
fn millis(key: &'static str, v: u64) -> Result<std::time::Duration, ConfigError> {
    if v == 0 {
        return Err(ConfigError::Invalid { key, message: "must be at least 1 millisecond".into() });
    }
    Ok(std::time::Duration::from_millis(v))
}

pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("verband.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)], file: &str) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let file: FileConfig = toml::from_str(file).expect("toml");
        Settings::from_sources(file, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_embedded_sqlite_with_demo_data() {
        let s = from(&[], "").expect("settings");
        assert!(s.database_url.starts_with("sqlite://data/verband.db"));
        assert!(s.demo_data);
        assert_eq!(s.listen.port(), 8080);
    }

    #[test]
    fn a_configured_database_gets_no_demo_data_unless_asked() {
        let s = from(&[("VERBAND_DATABASE_URL", "postgres://u:p@h/db")], "").expect("settings");
        assert!(!s.demo_data);
        let s = from(&[("VERBAND_DATABASE_URL", "postgres://h/db"), ("VERBAND_DEMO_DATA", "true")], "")
            .expect("settings");
        assert!(s.demo_data);
    }

    #[test]
    fn environment_wins_over_file() {
        let s =
            from(&[("VERBAND_LISTEN", "0.0.0.0:9000")], "listen = \"127.0.0.1:7000\"\nmax_body_bytes = 10")
                .expect("settings");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_body_bytes, 10);
        let s =
            from(&[("VERBAND_MAX_IMPORT_BYTES", "1000")], "import_timeout_seconds = 5").expect("settings");
        assert_eq!((s.max_import_bytes, s.import_timeout_seconds), (1000, 5));
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = from(&[("VERBAND_LISTEN", "nope")], "").expect_err("error");
        assert!(err.to_string().contains("VERBAND_LISTEN"));
        assert!(toml::from_str::<FileConfig>("no_such_key = 1").is_err());
    }

    #[test]
    fn token_keys_come_from_the_environment_and_stay_out_of_debug_output() {
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY3OA==";
        let s = from(&[("VERBAND_TOKEN_KEYS", &format!("k1={secret}"))], "").expect("settings");
        assert_eq!(s.tokens.keys.len(), 1);
        assert!(!format!("{s:?}").contains(secret));
        assert!(from(&[("VERBAND_TOKEN_KEYS", "k1=short")], "").is_err());
    }

    #[test]
    fn oidc_issuers_come_from_file_and_environment_without_leaking_secrets() {
        let file = "[[oidc]]\nissuer = \"https://id.example.org/realms/bund\"\naudience = \"verband\"\nclient_secret = \"hunter2hunter2\"\n";
        let s = from(
            &[("VERBAND_OIDC_ISSUER", "https://login.example.com"), ("VERBAND_OIDC_AUDIENCE", "api")],
            file,
        )
        .expect("settings");
        assert_eq!(s.oidc.len(), 2);
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(from(&[("VERBAND_OIDC_ISSUER", "https://x")], "").is_err(), "audience required");
    }

    #[test]
    fn request_limits_come_from_file_and_environment() {
        let s = from(
            &[("VERBAND_MAX_QUERY_COMPLEXITY", "900"), ("VERBAND_INTROSPECTION", "signed_in")],
            "max_query_complexity = 5\nmax_root_fields = 7\ntrusted_proxies = \"10.0.0.0/8\"",
        )
        .expect("settings");
        assert_eq!(s.limits.max_cost, 900);
        assert_eq!(s.limits.max_root_fields, 7);
        assert_eq!(s.limits.max_depth, Limits::default().max_depth);
        assert_eq!(s.introspection, Introspection::SignedIn);
        assert_eq!(s.trusted_proxies.len(), 1);
        assert!(from(&[("VERBAND_INTROSPECTION", "maybe")], "").is_err());
        assert!(from(&[("VERBAND_TRUSTED_PROXIES", "10.0.0.0/99")], "").is_err());
    }

    #[test]
    fn cors_origins_are_validated_and_normalised() {
        let s = from(
            &[(
                "VERBAND_CORS_ORIGINS",
                "http://localhost:3000, HTTPS://App.Example.org:443,,http://[::1]:8081",
            )],
            "",
        )
        .expect("settings");
        assert_eq!(s.cors_origins, ["http://localhost:3000", "https://app.example.org", "http://[::1]:8081"]);
        let s = from(&[], "cors_origins = [\"https://a.example\", \"https://a.example\"]").expect("settings");
        assert_eq!(s.cors_origins, ["https://a.example"]);
        assert!(from(&[], "").expect("settings").cors_origins.is_empty(), "none by default");
        for bad in [
            "*",
            "https://*.example.org",
            "app.example.org",
            "ftp://x",
            "https://x/path",
            "https://x/",
            "https://",
            "https://x:99999",
            "https://u@x",
        ] {
            let err = from(&[("VERBAND_CORS_ORIGINS", bad)], "").expect_err(bad);
            assert!(err.to_string().contains("VERBAND_CORS_ORIGINS"), "{err}");
        }
    }

    #[test]
    fn unknown_variables_are_found_with_the_name_they_probably_meant() {
        let names = [
            "VERBAND_LISTN",
            "VERBAND_LISTEN",
            "PATH",
            "VERBAND_DATABSE_URL",
            "VERBAND_FROBNICATE",
            "VERBAND_CORS_ORIGIN",
        ]
        .map(String::from);
        let unknown = unknown_variables(names);
        let pairs: Vec<(&str, Option<&str>)> =
            unknown.iter().map(|u| (u.name.as_str(), u.did_you_mean)).collect();
        assert_eq!(
            pairs,
            [
                ("VERBAND_CORS_ORIGIN", Some("VERBAND_CORS_ORIGINS")),
                ("VERBAND_DATABSE_URL", Some("VERBAND_DATABASE_URL")),
                ("VERBAND_FROBNICATE", None),
                ("VERBAND_LISTN", Some("VERBAND_LISTEN")),
            ]
        );
    }

    /// Every variable named in the code that reads configuration is in the list, so
    /// a new setting cannot be warned about as unknown.
    #[test]
    fn every_variable_read_is_known() {
        let config = include_str!("config.rs");
        // This file without its tests (they name unknown variables on purpose).
        let config = config.split("#[cfg(test)]").next().unwrap_or(config);
        for source in [config, include_str!("main.rs")] {
            for (at, _) in source.match_indices("\"VERBAND_") {
                let name: String = source[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if name == "VERBAND_" {
                    continue; // the prefix itself
                }
                assert!(
                    KNOWN_VARIABLES.contains(&name.as_str()),
                    "{name} is read but not in KNOWN_VARIABLES"
                );
            }
        }
    }

    /// An operator finds every variable in the README's tables.
    #[test]
    fn every_known_variable_is_documented() {
        let readme = include_str!("../README.md");
        for name in KNOWN_VARIABLES {
            // The whole name: VERBAND_LOG_FORMAT does not document VERBAND_LOG.
            let whole = readme.match_indices(name).any(|(at, _)| {
                !readme[at + name.len()..].starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            });
            assert!(whole, "{name} is not in README.md");
        }
    }

    #[test]
    fn database_time_limits_are_milliseconds_and_never_off() {
        let s = from(&[("VERBAND_DB_STATEMENT_TIMEOUT_MS", "250")], "db_acquire_timeout_ms = 750")
            .expect("settings");
        assert_eq!(s.db_statement_timeout, std::time::Duration::from_millis(250));
        assert_eq!(s.db_acquire_timeout, std::time::Duration::from_millis(750));
        let err = from(&[("VERBAND_DB_STATEMENT_TIMEOUT_MS", "0")], "").expect_err("zero");
        assert!(err.to_string().contains("VERBAND_DB_STATEMENT_TIMEOUT_MS"));
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let s = from(&[("VERBAND_DATABASE_URL", "postgres://app:s3cret@db/verband")], "").expect("settings");
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("app:***@db"));
    }
}
