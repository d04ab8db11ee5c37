#!/usr/bin/env bash
# The browser test: GraphiQL at / and a cross-origin front end, in headless Chromium
# with no network but 127.0.0.1 (graphiql.test.mjs says how). Needs Debian's
# chromium (apt-get install chromium), Node.js ≥ 20 with npm; builds the debug
# binary if needed. Extra VERBAND_* variables pass through to the server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "the browser test needs Chromium at $chromium: apt-get install chromium" >&2
  exit 1
fi
(cd "$here/../.." && cargo build --quiet)
npm ci --prefix "$here" --no-audit --no-fund --silent
cd "$here"
exec node --test
