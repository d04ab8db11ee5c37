//! GraphiQL at `GET /`, served entirely from the binary: GraphiQL's and React's
//! files are checked in under `assets/graphiql/` (fetched from npm by its
//! `update.sh`, pinned, with their SHA-256 sums) and embedded at build time, so the
//! page works on an intranet without internet access.
//!
//! Each file is served as `/graphiql/<hash>/<name>`, the hash being the start of its
//! SHA-256: a changed file gets a new path, so the files can be cached for a year
//! (`immutable`) and never go stale. The page itself is revalidated on every load and
//! carries a strict Content-Security-Policy: scripts, styles, fonts, images and
//! connections from this server only (fonts and icons inside GraphiQL's CSS are
//! `data:` URLs), no inline script (GraphiQL is started by `init.js`), no framing.
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::LazyLock;

/// The page's policy. `style-src` without `'unsafe-inline'`: GraphiQL and CodeMirror
/// set styles through the DOM, which CSP does not restrict.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Files under a content-hashed path never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("../../assets/graphiql/", $name)),
            content_type: $content_type,
        }
    };
}

/// In the order the page loads them.
const ASSETS: &[Asset] = &[
    asset!("graphiql.min.css", CSS),
    asset!("page.css", CSS),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphiql.min.js", JS),
    asset!("init.js", JS),
];

/// Hex digits of the SHA-256 in a file's path: 64 bits tell versions apart.
const HASH_DIGITS: usize = 16;

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The hashes and the page, computed once per process.
struct Built {
    hashes: Vec<String>,
    page: String,
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let hashes: Vec<String> =
        ASSETS.iter().map(|a| sha256_hex(a.bytes).chars().take(HASH_DIGITS).collect()).collect();
    // Paths relative to the page, so that a reverse proxy may serve it under a prefix.
    let path = |name: &str| {
        ASSETS
            .iter()
            .zip(&hashes)
            .find(|(a, _)| a.name == name)
            .map(|(a, h)| format!("graphiql/{h}/{}", a.name))
            .unwrap_or_default()
    };
    let mut head = String::new();
    for asset in ASSETS {
        if asset.content_type == CSS {
            let _ = writeln!(head, r#"<link rel="stylesheet" href="{}">"#, path(asset.name));
        } else {
            // `defer` keeps the order and runs after the document is parsed.
            let _ = writeln!(head, r#"<script defer src="{}"></script>"#, path(asset.name));
        }
    }
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>verband · GraphiQL</title>
<link rel="icon" href="data:,">
{head}</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript. The API is at POST /graphql.</noscript>
</body>
</html>
"#
    );
    Built { hashes, page }
});

fn static_header(headers: &mut HeaderMap, name: axum::http::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

/// `GET /`: the GraphiQL page.
pub async fn page() -> Response {
    let mut response = BUILT.page.clone().into_response();
    let headers = response.headers_mut();
    static_header(headers, CONTENT_TYPE, "text/html; charset=utf-8");
    static_header(headers, CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE);
    static_header(headers, CACHE_CONTROL, "no-cache");
    static_header(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    static_header(headers, X_FRAME_OPTIONS, "DENY");
    static_header(headers, REFERRER_POLICY, "no-referrer");
    response
}

/// `GET /graphiql/{hash}/{file}`: one embedded file, only under its current hash
/// (an old path must not be cached for a year with new content).
pub async fn asset(Path((hash, file)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().zip(&BUILT.hashes).find(|(a, h)| a.name == file && **h == hash);
    let Some((asset, _)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    static_header(headers, CONTENT_TYPE, asset.content_type);
    static_header(headers, CACHE_CONTROL, IMMUTABLE);
    static_header(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The third-party files are byte for byte what `update.sh` took from npm.
    #[test]
    fn embedded_files_match_their_recorded_sums() {
        let sums = include_str!("../../assets/graphiql/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (sum, name) = line.split_once("  ").expect("sha256sum format");
            let asset = ASSETS.iter().find(|a| a.name == name).expect("a recorded file is embedded");
            assert_eq!(sha256_hex(asset.bytes), sum, "{name} differs from SHA256SUMS");
            checked += 1;
        }
        assert_eq!(checked, 4);
    }

    #[test]
    fn the_page_loads_every_file_from_its_hashed_path_and_nothing_inline() {
        let page = &BUILT.page;
        for (asset, hash) in ASSETS.iter().zip(&BUILT.hashes) {
            assert_eq!(hash.len(), HASH_DIGITS);
            assert!(page.contains(&format!("\"graphiql/{hash}/{}\"", asset.name)), "{page}");
        }
        assert_eq!(page.matches("<script").count(), page.matches("<script defer src=").count());
        assert!(!page.contains("http://") && !page.contains("https://"), "no other origin: {page}");
    }
}
