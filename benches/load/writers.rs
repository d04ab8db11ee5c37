//! Load run, not a timed test: concurrent writers against a release build of the
//! server (started here as a child process on a fresh database with the demo data),
//! optionally with the PostgreSQL cluster restarted in the middle; afterwards every
//! answered write is compared with the database.
//!
//! ```sh
//! cargo bench --bench writers -- --seconds 120                     # SQLite
//! cargo bench --bench writers -- --seconds 120 \
//!     --postgres postgres://postgres@127.0.0.1:5433/verband_load --restart-cluster 15/faults
//! ```
//!
//! Each writer writes to members of its own (so the last write of a member is
//! known) in turn: setBankAccount, addSepaMandate, createMember with a given number
//! (every tenth repeats a number it already stored: CONFLICT expected),
//! recordPayment, updateMember. A write answered with success must be stored with
//! exactly one audit record of its request; a write answered with an error must
//! have left neither. Prints requests, answers by code, lost writes (success, not
//! stored), orphaned writes (error, stored), latencies, and for a restart how long
//! after the database was back the first write succeeded.
use base64::Engine;
use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// How long the writers write.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// A PostgreSQL database (dropped and created afresh); SQLite in a temporary
    /// directory when absent.
    #[arg(long)]
    postgres: Option<String>,
    /// `<version>/<cluster>` to restart with `pg_ctlcluster` during the run.
    #[arg(long)]
    restart_cluster: Option<String>,
    /// Seconds into the run of the restart (half the run by default).
    #[arg(long)]
    restart_at: Option<u64>,
    /// Instead of a restart: stop the cluster, keep it down this many seconds, start it.
    #[arg(long)]
    down_for: Option<u64>,
    #[arg(long, default_value_t = 18_081)]
    port: u16,
    /// The server's pool size.
    #[arg(long, default_value_t = 10)]
    pool: u32,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

const DEMO_PASSWORD: &str = "verband-demo";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Op {
    SetBankAccount,
    AddSepaMandate,
    CreateMember,
    RecordPayment,
    UpdateMember,
}

const OPS: [Op; 5] =
    [Op::SetBankAccount, Op::AddSepaMandate, Op::CreateMember, Op::RecordPayment, Op::UpdateMember];

impl Op {
    /// The audit action its success records.
    fn action(self) -> &'static str {
        match self {
            Op::SetBankAccount => "bank_account.set",
            Op::AddSepaMandate => "sepa_mandate.add",
            Op::CreateMember => "member.create",
            Op::RecordPayment => "payment.record",
            Op::UpdateMember => "member.update",
        }
    }

    fn request(self, member: &str, unit: &str, key: &str) -> (&'static str, Value) {
        match self {
            Op::SetBankAccount => (
                "mutation($m: ID!, $h: String!) { setBankAccount(memberId: $m, input: { iban: \"DE89370400440532013000\", accountHolder: $h }) { __typename } }",
                json!({ "m": member, "h": key }),
            ),
            Op::AddSepaMandate => (
                "mutation($m: ID!, $r: String!) { addSepaMandate(memberId: $m, input: { reference: $r, signedOn: \"2026-01-02\", iban: \"DE89370400440532013000\" }) { __typename } }",
                json!({ "m": member, "r": key }),
            ),
            Op::CreateMember => (
                "mutation($u: ID!, $n: String!) { createMember(input: { homeUnitId: $u, membershipNumber: $n, firstName: \"Last\", lastName: \"Schreiber\" }) { __typename } }",
                json!({ "u": unit, "n": key }),
            ),
            Op::RecordPayment => (
                "mutation($m: ID!, $n: String!) { recordPayment(memberId: $m, input: { amountCents: 1500, paidOn: \"2026-01-02\", note: $n }) { __typename } }",
                json!({ "m": member, "n": key }),
            ),
            Op::UpdateMember => (
                "mutation($m: ID!, $p: String!) { updateMember(id: $m, input: { phone: $p }) { __typename } }",
                json!({ "m": member, "p": key }),
            ),
        }
    }
}

#[derive(Clone, Debug)]
enum Outcome {
    Ok,
    Code(String),
    /// No answer (connection cut, client timeout): the outcome is unknown.
    NoAnswer,
}

#[derive(Clone, Debug)]
struct Attempt {
    op: Op,
    member: i64,
    key: String,
    /// Repeats a number this writer stored before: CONFLICT expected.
    repeat: bool,
    started: Duration,
    finished: Duration,
    outcome: Outcome,
    request_id: Option<String>,
}

fn raw_id(global: &str) -> i64 {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global).unwrap_or_default();
    String::from_utf8_lossy(&bytes).split_once(':').and_then(|(_, id)| id.parse().ok()).unwrap_or_default()
}

/// The server under load: a child process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let database_url = match &args.postgres {
        Some(url) => {
            recreate_postgres_database(url).await?;
            url.clone()
        }
        None => format!("sqlite://{}?mode=rwc", dir.path().join("data/verband.db").display()),
    };
    let base = format!("http://127.0.0.1:{}", args.port);
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_verband"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("VERBAND_DATABASE_URL", &database_url)
            .env("VERBAND_DATA_DIR", dir.path().join("data"))
            .env("VERBAND_LISTEN", format!("127.0.0.1:{}", args.port))
            .env("VERBAND_DEMO_DATA", "true")
            .env("VERBAND_DB_MAX_CONNECTIONS", args.pool.to_string())
            .env("VERBAND_LOG", "warn,verband::access=off")
            .env("VERBAND_TOKEN_TTL_SECONDS", (args.seconds + 600).to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    wait_ready(&client, &base).await?;
    let token = login(&client, &base).await?;
    let (members, unit) = writable_members(&client, &base, &token).await?;
    println!(
        "{} writers for {} s on {} against a {} server (pool {}), {} members",
        args.writers,
        args.seconds,
        if args.postgres.is_some() { "PostgreSQL" } else { "SQLite" },
        if cfg!(debug_assertions) { "debug" } else { "release" },
        args.pool,
        members.len()
    );

    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(args.seconds);
    let readiness = Arc::new(Mutex::new(Vec::<(Duration, u16)>::new()));
    let poller = tokio::spawn(poll_ready(client.clone(), base.clone(), t0, deadline, readiness.clone()));
    let restart = match &args.restart_cluster {
        Some(cluster) => {
            let at = Duration::from_secs(args.restart_at.unwrap_or(args.seconds / 2));
            let url = database_url.clone();
            Some(tokio::spawn(restart_cluster(cluster.clone(), url, t0, at, args.down_for)))
        }
        None => None,
    };
    let mut writers = Vec::new();
    for w in 0..args.writers {
        let mine: Vec<String> = members.iter().skip(w).step_by(args.writers).cloned().collect();
        let (client, base, token, unit) = (client.clone(), base.clone(), token.clone(), unit.clone());
        writers
            .push(tokio::spawn(async move { write(w, mine, unit, client, base, token, t0, deadline).await }));
    }
    let mut attempts = Vec::new();
    for w in writers {
        attempts.extend(w.await?);
    }
    let restarted = match restart {
        Some(r) => Some(r.await??),
        None => None,
    };
    poller.await?;
    drop(server);

    let db = Database::connect(&database_url).await?;
    let stored = Stored::load(&db).await?;
    report(&attempts, &stored, restarted, &readiness.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(())
}

async fn recreate_postgres_database(url: &str) -> anyhow::Result<()> {
    let (prefix, name) = url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("no database name in {url}"))?;
    let name = name.split('?').next().unwrap_or(name);
    anyhow::ensure!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "plain database names only");
    let admin = Database::connect(format!("{prefix}/postgres")).await?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    admin.close().await?;
    Ok(())
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the server did not become ready (see its log)")
}

async fn gql(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    vars: Value,
) -> anyhow::Result<Value> {
    let mut request =
        client.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": vars }));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    Ok(request.send().await?.json().await?)
}

async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let body = gql(
        client,
        base,
        None,
        "mutation($p: String!) { login(username: \"admin\", password: $p) { accessToken } }",
        json!({ "p": DEMO_PASSWORD }),
    )
    .await?;
    body["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login: {body}"))
}

/// Members of ACTIVE units (ids), and one such unit for new members.
async fn writable_members(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<(Vec<String>, String)> {
    let body = gql(
        client,
        base,
        Some(token),
        "{ members(first: 500) { edges { node { id status homeUnit { id status } } } } }",
        json!({}),
    )
    .await?;
    let edges = body["data"]["members"]["edges"].as_array().cloned().unwrap_or_default();
    let active: Vec<&Value> = edges
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["status"] == "ACTIVE" && n["homeUnit"]["status"] == "ACTIVE")
        .collect();
    let unit = active
        .first()
        .and_then(|n| n["homeUnit"]["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no members: {body}"))?;
    Ok((active.iter().filter_map(|n| n["id"].as_str().map(str::to_owned)).collect(), unit.to_owned()))
}

#[allow(clippy::too_many_arguments)]
async fn write(
    w: usize,
    members: Vec<String>,
    unit: String,
    client: reqwest::Client,
    base: String,
    token: String,
    t0: Instant,
    deadline: Instant,
) -> Vec<Attempt> {
    let mut out = Vec::new();
    let mut stored_number: Option<String> = None;
    let mut creates = 0u64;
    let mut seq = 0u64;
    while Instant::now() < deadline && !members.is_empty() {
        let op = OPS[(seq % OPS.len() as u64) as usize];
        let member = &members[((seq / OPS.len() as u64) % members.len() as u64) as usize];
        let mut key = format!("L{w}-{seq}");
        let mut repeat = false;
        if op == Op::CreateMember {
            creates += 1;
            if creates.is_multiple_of(10)
                && let Some(n) = &stored_number
            {
                key = n.clone();
                repeat = true;
            }
        }
        let (query, vars) = op.request(member, &unit, &key);
        let started = t0.elapsed();
        let answer = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&token)
            .json(&json!({ "query": query, "variables": vars }))
            .send()
            .await;
        let (outcome, request_id) = match answer {
            Ok(response) => {
                let request_id =
                    response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
                match response.json::<Value>().await {
                    Ok(body) => match body["errors"][0]["extensions"]["code"].as_str() {
                        None if body.get("errors").is_none() => (Outcome::Ok, request_id),
                        code => (Outcome::Code(code.unwrap_or("NONE").to_owned()), request_id),
                    },
                    Err(_) => (Outcome::NoAnswer, request_id),
                }
            }
            Err(_) => (Outcome::NoAnswer, None),
        };
        if op == Op::CreateMember && !repeat && matches!(outcome, Outcome::Ok) {
            stored_number = Some(key.clone());
        }
        out.push(Attempt {
            op,
            member: raw_id(member),
            key,
            repeat,
            started,
            finished: t0.elapsed(),
            outcome,
            request_id,
        });
        seq += 1;
    }
    out
}

async fn poll_ready(
    client: reqwest::Client,
    base: String,
    t0: Instant,
    deadline: Instant,
    out: Arc<Mutex<Vec<(Duration, u16)>>>,
) {
    let mut last = 0;
    while Instant::now() < deadline {
        let status = match client.get(format!("{base}/readyz")).timeout(Duration::from_secs(3)).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if status != last {
            out.lock().unwrap_or_else(|e| e.into_inner()).push((t0.elapsed(), status));
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// When the restart began, when the database stopped and was back answering (a
/// probe connecting afresh every 20 ms), and when `pg_ctlcluster` returned.
#[derive(Clone, Copy, Debug)]
struct Restart {
    began: Duration,
    down: Duration,
    back: Duration,
    done: Duration,
}

async fn restart_cluster(
    cluster: String,
    url: String,
    t0: Instant,
    at: Duration,
    down_for: Option<u64>,
) -> anyhow::Result<Restart> {
    tokio::time::sleep_until((t0 + at).into()).await;
    let (version, name) =
        cluster.split_once('/').ok_or_else(|| anyhow::anyhow!("--restart-cluster 15/faults"))?;
    let ctl = |action: &'static str| {
        tokio::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", version, name, action])
            .status()
    };
    let began = t0.elapsed();
    let probe = tokio::spawn(probe_outage(url, t0));
    let status = match down_for {
        None => ctl("restart").await?,
        Some(secs) => {
            let stopped = ctl("stop").await?;
            anyhow::ensure!(stopped.success(), "pg_ctlcluster stop failed");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            ctl("start").await?
        }
    };
    anyhow::ensure!(status.success(), "pg_ctlcluster failed");
    let done = t0.elapsed();
    let (down, back) = probe.await?;
    Ok(Restart { began, down, back, done })
}

/// The first moment a fresh connection fails, and the first one after it that
/// answers again.
async fn probe_outage(url: String, t0: Instant) -> (Duration, Duration) {
    async fn answers(url: &str) -> bool {
        let attempt = async {
            let db = Database::connect(url).await.ok()?;
            let ok = db.execute_unprepared("SELECT 1").await.is_ok();
            db.close().await.ok();
            Some(ok)
        };
        matches!(tokio::time::timeout(Duration::from_millis(500), attempt).await, Ok(Some(true)))
    }
    let mut down = None;
    loop {
        let ok = answers(&url).await;
        match (ok, down) {
            (false, None) => down = Some(t0.elapsed()),
            (true, Some(d)) => return (d, t0.elapsed()),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the database holds of the run's writes.
struct Stored {
    numbers: HashSet<String>,
    references: HashSet<String>,
    notes: HashSet<String>,
    holders: HashMap<i64, String>,
    phones: HashMap<i64, String>,
    /// request id → audit actions recorded for it.
    audits: HashMap<String, Vec<String>>,
}

impl Stored {
    async fn load(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let rows =
            |sql: &str| db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()));
        let strings = |rows: Vec<sea_orm::QueryResult>, col: &str| -> HashSet<String> {
            rows.iter().filter_map(|r| r.try_get::<String>("", col).ok()).collect()
        };
        let numbers = strings(
            rows("SELECT membership_number FROM member WHERE membership_number LIKE 'L%'").await?,
            "membership_number",
        );
        let references =
            strings(rows("SELECT reference FROM sepa_mandate WHERE reference LIKE 'L%'").await?, "reference");
        let notes = strings(rows("SELECT note FROM payment WHERE note LIKE 'L%'").await?, "note");
        let mut holders = HashMap::new();
        for r in rows("SELECT member_id, account_holder FROM bank_account").await? {
            holders.insert(r.try_get::<i64>("", "member_id")?, r.try_get::<String>("", "account_holder")?);
        }
        let mut phones = HashMap::new();
        for r in rows("SELECT id, phone FROM member WHERE phone IS NOT NULL").await? {
            phones.insert(r.try_get::<i64>("", "id")?, r.try_get::<String>("", "phone")?);
        }
        let mut audits: HashMap<String, Vec<String>> = HashMap::new();
        for r in rows("SELECT request_id, action FROM audit_event WHERE request_id IS NOT NULL").await? {
            audits.entry(r.try_get("", "request_id")?).or_default().push(r.try_get("", "action")?);
        }
        Ok(Self { numbers, references, notes, holders, phones, audits })
    }

    /// The row a write with this key stores, where one identifies it.
    fn row(&self, a: &Attempt) -> Option<bool> {
        match a.op {
            Op::CreateMember if !a.repeat => Some(self.numbers.contains(&a.key)),
            Op::AddSepaMandate => Some(self.references.contains(&a.key)),
            Op::RecordPayment => Some(self.notes.contains(&a.key)),
            _ => None,
        }
    }

    fn audited(&self, a: &Attempt) -> usize {
        a.request_id
            .as_ref()
            .and_then(|id| self.audits.get(id))
            .map_or(0, |actions| actions.iter().filter(|x| *x == a.op.action()).count())
    }
}

fn report(attempts: &[Attempt], stored: &Stored, restart: Option<Restart>, readiness: &[(Duration, u16)]) {
    let mut by_op: BTreeMap<Op, (u64, u64)> = BTreeMap::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut lost, mut orphaned, mut duplicates, mut unknown, mut unknown_stored) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut expected_conflicts = 0u64;
    let mut examples = Vec::new();
    for a in attempts {
        let e = by_op.entry(a.op).or_default();
        e.0 += 1;
        match &a.outcome {
            Outcome::Ok => {
                e.1 += 1;
                *codes.entry("ok".into()).or_default() += 1;
                if a.repeat {
                    duplicates += 1;
                    examples.push(format!("a repeated number was accepted: {a:?}"));
                } else if stored.audited(a) != 1 || stored.row(a) == Some(false) {
                    lost += 1;
                    examples.push(format!("lost: {a:?}"));
                }
            }
            Outcome::Code(code) => {
                *codes.entry(code.clone()).or_default() += 1;
                if a.repeat && code == "CONFLICT" {
                    expected_conflicts += 1;
                }
                if stored.audited(a) != 0 || stored.row(a) == Some(true) {
                    orphaned += 1;
                    examples.push(format!("orphaned: {a:?}"));
                }
            }
            Outcome::NoAnswer => {
                *codes.entry("no answer".into()).or_default() += 1;
                unknown += 1;
                if stored.row(a) == Some(true) {
                    unknown_stored += 1;
                }
            }
        }
    }
    // The last write of each member (one writer each): the stored value is its.
    let mut last: HashMap<(Op, i64), &Attempt> = HashMap::new();
    for a in attempts.iter().filter(|a| matches!(a.op, Op::SetBankAccount | Op::UpdateMember)) {
        if !matches!(a.outcome, Outcome::Code(_)) {
            last.insert((a.op, a.member), a);
        }
    }
    let mut stale = 0;
    for ((op, member), a) in &last {
        if matches!(a.outcome, Outcome::NoAnswer) {
            continue;
        }
        let now = match op {
            Op::SetBankAccount => stored.holders.get(member),
            _ => stored.phones.get(member),
        };
        if now != Some(&a.key) {
            stale += 1;
            examples.push(format!("last write not stored: {a:?}, stored {now:?}"));
        }
    }
    let mut latencies: Vec<Duration> = attempts.iter().map(|a| a.finished - a.started).collect();
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();
    let seconds = attempts.iter().map(|a| a.finished).max().unwrap_or_default().as_secs_f64();

    println!("requests: {} ({:.0}/s)", attempts.len(), attempts.len() as f64 / seconds.max(1e-9));
    for (op, (n, ok)) in &by_op {
        println!("  {op:?}: {n} requests, {ok} succeeded");
    }
    println!("answers: {codes:?}");
    println!(
        "  expected CONFLICT (a number stored before, repeated): {expected_conflicts}; repeats accepted: {duplicates}"
    );
    println!("lost writes (success, not stored with exactly one audit record): {lost}");
    println!("orphaned writes (error, but stored or audited): {orphaned}");
    println!("last writes per member not the stored value: {stale}");
    println!("no answer (outcome unknown): {unknown}, of which stored: {unknown_stored}");
    println!(
        "latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3
    );
    if let Some(r) = restart {
        let failed: Vec<&Attempt> =
            attempts.iter().filter(|a| !matches!(a.outcome, Outcome::Ok) && !a.repeat).collect();
        let first_failure = failed.iter().map(|a| a.finished).min();
        let last_failure = failed.iter().map(|a| a.finished).max();
        let recovered = attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Ok) && a.started >= r.back)
            .map(|a| a.finished)
            .min();
        // The first 200 after the last 503 of the outage.
        let last_503 = readiness.iter().filter(|(t, s)| *t >= r.began && *s != 200).map(|(t, _)| *t).max();
        let ready_again =
            last_503.and_then(|l| readiness.iter().find(|(t, s)| *t > l && *s == 200).map(|(t, _)| *t));
        let (mut answered_ok, mut answered_err) = (0, 0);
        for a in attempts.iter().filter(|a| a.finished >= r.down && a.started <= r.back && !a.repeat) {
            match a.outcome {
                Outcome::Ok => answered_ok += 1,
                _ => answered_err += 1,
            }
        }
        let slowest_failure = failed.iter().map(|a| a.finished - a.started).max();
        let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        let after = |d: Option<Duration>| d.map(|d| d.saturating_sub(r.back));
        println!(
            "restart: began at {:.2} s; the database refused connections from {:.2} s and answered again at {:.2} s (pg_ctlcluster returned at {:.2} s)",
            r.began.as_secs_f64(),
            r.down.as_secs_f64(),
            r.back.as_secs_f64(),
            r.done.as_secs_f64()
        );
        println!(
            "  writes in flight while it was down: {answered_ok} succeeded (after waiting for a connection), {answered_err} failed; slowest failure {}",
            secs(slowest_failure)
        );
        println!("  first failed write at {}, last at {}", secs(first_failure), secs(last_failure));
        println!(
            "  after the database was back: first successful write {} later; /readyz 503 until {}, 200 again at {}",
            secs(after(recovered)),
            secs(last_503),
            secs(ready_again)
        );
        println!("  /readyz changes: {readiness:?}");
    }
    for e in examples.iter().take(10) {
        println!("  {e}");
    }
}
