//! A real OpenID Connect issuer for tests: `oauth2-mock-server` (npm), started on
//! 127.0.0.1 and a free port by `tests/idp/idp.mjs`. Its packages are installed
//! with `npm ci` on first use.
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

static INSTALL: Mutex<bool> = Mutex::new(false);

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("idp")
}

fn ensure_installed() {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done || idp_dir().join("node_modules").join("oauth2-mock-server").exists() {
        *done = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(idp_dir())
        .status()
        .expect("npm is needed for the identity-provider tests");
    assert!(status.success(), "npm ci in tests/idp failed");
    *done = true;
}

pub struct Idp {
    pub issuer: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    http: reqwest::Client,
}

impl Idp {
    pub async fn start() -> Idp {
        tokio::task::spawn_blocking(Self::spawn).await.expect("spawn")
    }

    fn spawn() -> Idp {
        ensure_installed();
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .current_dir(idp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the identity-provider tests");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("idp ready line");
        let ready: Value = serde_json::from_str(&line).expect("json ready line");
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        Idp { issuer, child, stdin, stdout, http: reqwest::Client::new() }
    }

    /// A client-credentials access token for `client_id`, with audience `aud`.
    pub async fn client_token(&self, client_id: &str, aud: &str, scope: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("aud", aud),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json");
        body["access_token"].as_str().unwrap_or_else(|| panic!("no token: {body}")).to_owned()
    }

    /// Adds a new signing key; returns its `kid`.
    pub fn rotate(&mut self) -> String {
        writeln!(self.stdin, "rotate").expect("command");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("rotated line");
        let v: Value = serde_json::from_str(&line).expect("json");
        v["rotated"].as_str().expect("kid").to_owned()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("header").kid.expect("kid")
}
