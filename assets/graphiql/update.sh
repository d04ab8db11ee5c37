#!/usr/bin/env bash
# Refreshes the GraphiQL page's third-party files from their npm packages:
#
#   bash assets/graphiql/update.sh                 # the versions below
#   GRAPHIQL=3.9.0 REACT=18.3.1 bash assets/graphiql/update.sh
#
# GraphiQL 3.x is the last major release that ships a UMD build for plain <script>
# tags, and it needs React 16-18 (React 19 no longer ships UMD builds). npm checks
# each package tarball against the registry's integrity hash; the files are copied
# under fixed names, and VERSIONS and SHA256SUMS record what they are. The server
# embeds them at build time and serves them under content-hashed paths, so a
# refresh needs no code change: run this, rebuild, run the browser test
# (tests/browser/run.sh), commit.
set -euo pipefail
GRAPHIQL="${GRAPHIQL:-3.9.0}"
REACT="${REACT:-18.3.1}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent --json "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >packs.json
for tgz in graphiql-"$GRAPHIQL".tgz react-"$REACT".tgz react-dom-"$REACT".tgz; do
  mkdir "${tgz%.tgz}"
  tar -xzf "$tgz" -C "${tgz%.tgz}"
done
cp "graphiql-$GRAPHIQL/package/graphiql.min.js" "$here/graphiql.min.js"
cp "graphiql-$GRAPHIQL/package/graphiql.min.css" "$here/graphiql.min.css"
cp "graphiql-$GRAPHIQL/package/LICENSE" "$here/LICENSE-graphiql"
cp "react-$REACT/package/umd/react.production.min.js" "$here/react.production.min.js"
cp "react-dom-$REACT/package/umd/react-dom.production.min.js" "$here/react-dom.production.min.js"
cp "react-$REACT/package/LICENSE" "$here/LICENSE-react"
{
  echo "# The npm packages the files here come from (written by update.sh)."
  node -e '
    for (const p of JSON.parse(require("fs").readFileSync("packs.json", "utf8")))
      console.log(`${p.name}@${p.version} ${p.integrity}`);
  '
} >"$here/VERSIONS"
cd "$here"
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js >SHA256SUMS
cat VERSIONS
echo "updated; now: cargo build, bash tests/browser/run.sh"
