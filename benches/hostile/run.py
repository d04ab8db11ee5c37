#!/usr/bin/env python3
"""Fires hostile requests at a verband server and prints, per request, how it was
answered, how long it took, the server's peak memory while it ran, and how an
ordinary request of another caller fared meanwhile.

    cargo build --release
    python3 benches/hostile/run.py                      # starts target/release/verband
    python3 benches/hostile/run.py --binary path/to/verband --port 18090

The server runs with the demo data in a fresh temporary directory (SQLite). Its peak
resident memory per case is read from /proc/<pid>/status (VmHWM), reset before each
case through /proc/<pid>/clear_refs. Not a test: it reports numbers, it asserts
nothing. Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

ORDINARY = "{ orgUnits(first: 5) { totalCount edges { node { name } } } }"

INTROSPECTION = """
query IntrospectionQuery { __schema { description queryType { name } mutationType { name }
  subscriptionType { name } types { ...FullType }
  directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } } } }
fragment FullType on __Type { kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue } interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue
  isDeprecated deprecationReason }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name } } } } } } } } } } }
"""


def fan_out(levels):
    parts = ["query { ...F0 }"]
    for k in range(levels):
        parts.append(f"fragment F{k} on Query {{ ...F{k + 1} ...F{k + 1} }}")
    parts.append(f"fragment F{levels} on Query {{ orgUnits {{ totalCount }} }}")
    return " ".join(parts)


def aliases(n, field):
    return "{" + " ".join(f"a{i}: {field}" for i in range(n)) + "}"


def megabyte_of_aliases():
    parts, size = [], 0
    while size < 1_000_000:
        part = f"a{size}: __typename"
        parts.append(part)
        size += len(part) + 1
    return "{" + " ".join(parts) + "}"


def cases():
    """(name, needs a token, body)"""
    login = 'login(username: "lsm.bayern", password: "verband-demo") { accessToken }'
    node = ("id firstName lastName email homeUnit { name level { name } } "
            "assignments { id activity { name } orgUnit { name } levelGroup { key } } "
            "bankAccount { iban bic accountHolder } sepaMandates { reference } payments { amountCents paidOn }")
    yield "fragment fan-out 2^26 (anonymous)", False, {"query": fan_out(26)}
    yield "fragment fan-out 2^30 (anonymous)", False, {"query": fan_out(30)}
    yield "fragment cycle", False, {"query": "{ ...A } fragment A on Query { ...B } "
                                              "fragment B on Query { orgUnits { totalCount } ...A }"}
    yield "2,000 aliases of members(first: 500) { totalCount }", True, {
        "query": aliases(2000, "members(first: 500) { totalCount }")}
    yield "60 aliases of members(first: 500) { totalCount }", True, {
        "query": aliases(60, "members(first: 500) { totalCount }")}
    yield "40 aliases of a page of 500 members", True, {
        "query": aliases(40, "members(first: 500) { edges { node { id firstName lastName email homeUnit { name } } } }")}
    yield "2 full pages of 500 with every relation", True, {
        "query": aliases(2, f"members(first: 500) {{ edges {{ node {{ {node} }} }} }}")}
    yield "1 MB of aliases", False, {"query": megabyte_of_aliases()}
    yield "brackets nested 40,000 deep", False, {
        "query": "{ orgUnits(first: " + "[" * 40_000 + "1" + "]" * 40_000 + ") { totalCount } }"}
    yield "selections nested 15,000 deep", False, {"query": "{ a " * 15_000 + "x" + "}" * 15_000}
    yield "@skip repeated 1,000 times", False, {
        "query": "{ orgUnits { totalCount " + "@skip(if: false) " * 1000 + "} }"}
    yield "1,500 operations in one document", False, {
        "query": " ".join(f"query Q{i} {{ orgUnits {{ totalCount }} }}" for i in range(1500)),
        "operationName": "Q7"}
    yield "introspection walk fields.type.fields", False, {
        "query": "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"}
    fragments = INTROSPECTION[INTROSPECTION.index("fragment FullType"):]
    yield "15 aliases of the full introspection", False, {
        "query": aliases(15, "__schema { types { ...FullType } }") + fragments}
    yield "300 login fields", False, {"query": "mutation " + aliases(300, login)}
    yield "2 login fields", False, {"query": "mutation " + aliases(2, login)}
    yield "missing required variable", False, {
        "query": "query($f: Int!) { orgUnits(first: $f) { totalCount } }", "variables": {}}
    yield "variable failing coercion (2025-02-30)", True, {
        "query": "query($d: Date!) { memberCounts(orgUnitId: \"T3JnVW5pdDox\", from: $d, to: $d) { count } }",
        "variables": {"d": "2025-02-30"}}
    yield "50,000 statuses in a variable", True, {
        "query": "query($s: [MemberStatus!]) { members(filter: { status: $s }) { totalCount } }",
        "variables": {"s": ["ACTIVE"] * 50_000}}
    yield "search for NUL", True, {
        "query": "query($s: String) { members(filter: { search: $s }) { totalCount } }",
        "variables": {"s": "\u0000"}}
    yield "batch of 2 (JSON array)", False, [{"query": ORDINARY}, {"query": ORDINARY}]
    yield "standard introspection query (must pass)", False, {"query": INTROSPECTION}
    yield "one full page of 500 (must pass)", True, {
        "query": f"{{ members(first: 500) {{ edges {{ node {{ {node} }} }} }} }}"}


def post(url, body, token=None, timeout=60):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "content-type": "application/json", "accept": "application/graphql-response+json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except (urllib.error.URLError, ConnectionError) as e:
        return None, {"transport": str(e)}, (time.perf_counter() - started) * 1000
    elapsed = (time.perf_counter() - started) * 1000
    try:
        return status, json.loads(text), elapsed
    except ValueError:
        return status, {"raw": text[:200].decode(errors="replace")}, elapsed


def memory(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MB
    return float("nan")


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def ordinary_load(url, stop, latencies):
    while not stop.is_set():
        status, body, ms = post(url, {"query": ORDINARY})
        latencies.append(ms if status == 200 and "data" in body else float("inf"))


def describe(status, body):
    if not isinstance(body, dict):
        return f"{status}"
    if "transport" in body:
        return "NO ANSWER: " + body["transport"]
    errors = body.get("errors") or []
    if not errors:
        return f"{status} ok"
    ext = errors[0].get("extensions", {})
    detail = ext.get("limit") or ext.get("field") or ""
    return f"{status} {ext.get('code', '?')} {detail}".strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/verband")
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/graphql"
    data_dir = tempfile.mkdtemp(prefix="verband-hostile-")
    env = dict(os.environ, VERBAND_DATA_DIR=data_dir, VERBAND_LISTEN=f"127.0.0.1:{args.port}",
               VERBAND_LOG="warn")
    server = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            status, _, _ = post(url, {"query": "{ __typename }"}, timeout=2)
            if status == 200:
                break
            time.sleep(0.5)
        status, body, _ = post(url, {"query": 'mutation { login(username: "admin", password: "verband-demo") { accessToken } }'})
        token = body["data"]["login"]["accessToken"]
        idle = [post(url, {"query": ORDINARY})[2] for _ in range(20)]
        print(f"server pid {server.pid}, idle RSS {memory(server.pid, 'VmRSS'):.1f} MB; "
              f"ordinary request alone: median {statistics.median(idle):.1f} ms")
        print(f"{'case':<52} {'answer':<32} {'time ms':>8} {'peak MB':>8} {'+MB':>6}  ordinary meanwhile (n, median/max ms)")
        for name, needs_token, body in cases():
            reset_peak(server.pid)
            before = memory(server.pid, "VmRSS")
            stop, latencies = threading.Event(), []
            load = threading.Thread(target=ordinary_load, args=(url, stop, latencies))
            load.start()
            time.sleep(0.05)
            status, answer, ms = post(url, body, token if needs_token else None)
            stop.set()
            load.join()
            peak = memory(server.pid, "VmHWM")
            alive = server.poll() is None
            others = (f"{len(latencies)}, {statistics.median(latencies):.1f}/{max(latencies):.1f}"
                      if latencies else "none")
            print(f"{name:<52} {describe(status, answer):<32} {ms:>8.1f} {peak:>8.1f} {peak - before:>6.1f}  {others}"
                  + ("" if alive else "  SERVER DIED"))
            if not alive:
                break
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
