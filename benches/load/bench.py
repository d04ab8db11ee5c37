#!/usr/bin/env python3
"""Load benchmark: the treasurer's everyday queries against a release server on
PostgreSQL with 1,000,000 synthetic members, driven by wrk.

    python3 benches/load/bench.py                 # everything, 30 s per run
    python3 benches/load/bench.py --duration 10 --only q1,q2
    python3 benches/load/bench.py --binary /path/to/other/verband --database verband_bench_base

It builds the release binary (unless --binary is given), creates and seeds the
database once (`seed --synthetic --members 1000000 --units 10000 --seed 1`; reused
while it holds that data, --reseed starts over), finds the personas, starts the
server, and for each query runs a warm-up and a measured wrk run. Every response
body is compared with the expected one (fetched once before the run). It prints
req/s, p50, p99, errors, SQL statements per request (from /metrics) and CPU
milliseconds per request for the server and for PostgreSQL (from /proc).

Not a test: numbers depend on the machine; run it on a quiet one.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PASSWORD = "verband-demo"
MEMBERS, UNITS, SEED = 1_000_000, 10_000, 1
CLK_TCK = os.sysconf("SC_CLK_TCK")

FIELDS = "membershipNumber firstName lastName email bankAccount { iban }"
FIELDS_NO_BANK = "membershipNumber firstName lastName email"
Q1 = "query Q1 { members(first: 100, orderBy: MEMBERSHIP_NUMBER) { edges { node { %s } } } }"
Q2 = "query Q2($n: String!) { memberByNumber(membershipNumber: $n) { %s } }"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def psql(admin_url, database, sql):
    # The last path segment is the database name.
    base, _, _ = admin_url.rpartition("/")
    url = f"{base}/{database}" if database else admin_url
    out = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def ensure_wrk():
    if shutil.which("wrk"):
        return
    log("installing wrk (Debian package)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


def database_ready(admin, db):
    exists = psql(admin, None, f"SELECT 1 FROM pg_database WHERE datname = '{db}'")
    if exists != "1":
        return False
    try:
        n = psql(admin, db, "SELECT count(*) FROM member")
        units = psql(admin, db, "SELECT count(*) FROM org_unit")
    except subprocess.CalledProcessError:
        return False
    return int(n) == MEMBERS and int(units) == UNITS


def seed(binary, admin, db):
    log(f"creating and seeding {db} ({MEMBERS} members, {UNITS} units); takes a few minutes")
    psql(admin, None, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(admin, None, f"CREATE DATABASE {db}")
    base, _, _ = admin.rpartition("/")
    env = dict(os.environ, VERBAND_DATABASE_URL=f"{base}/{db}", VERBAND_LOG="warn")
    subprocess.run([binary, "seed", "--synthetic", "--members", str(MEMBERS), "--units", str(UNITS),
                    "--seed", str(SEED)], check=True, env=env)
    psql(admin, db, "VACUUM ANALYZE")


PERSONA_SQL = """
SELECT u.username, a.org_unit_id, o.name,
       (SELECT count(*) FROM member m JOIN org_unit h ON h.id = m.home_unit_id
         WHERE h.path LIKE o.path || '%%'),
       (SELECT count(*) FROM member m JOIN org_unit h ON h.id = m.home_unit_id
         JOIN bank_account b ON b.member_id = m.id WHERE h.path LIKE o.path || '%%')
FROM assignment a
JOIN activity ac ON ac.id = a.activity_id
JOIN org_unit o ON o.id = a.org_unit_id
JOIN level l ON l.id = o.level_id
JOIN permission_group lg ON lg.id = a.level_group_id
LEFT JOIN permission_group tg ON tg.id = a.tree_group_id
JOIN app_user u ON u.member_id = a.member_id
WHERE l.rank = %d AND lg.key = '%s' AND %s AND a.status = 'ACTIVE'
ORDER BY a.org_unit_id LIMIT 1
"""


def persona(admin, db, rank, level_group, tree_group):
    tree = f"tg.key = '{tree_group}'" if tree_group else "a.tree_group_id IS NULL"
    row = psql(admin, db, PERSONA_SQL % (rank, level_group, tree))
    if not row:
        sys.exit(f"no persona with {level_group}/{tree_group} on level rank {rank}")
    username, unit_id, unit, members, ibans = row.split("|")
    return {"username": username, "unit": unit, "members": int(members), "ibans": int(ibans)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 (1-based) of the whole line.
    return sum(int(x) for x in fields[11:15])


def postgres_ticks():
    """CPU of the PostgreSQL cluster: live backends count their own time; the
    postmaster adds the time of its children that exited (cutime/cstime)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or not is_postgres(pid):
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                ppid = next(int(l.split()[1]) for l in f if l.startswith("PPid:"))
            total += own_ticks(pid) if is_postgres(ppid) else cpu_ticks(pid)
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def is_postgres(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip().startswith("postgres")
    except FileNotFoundError:
        return False


def own_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(port, body_file, expect_file, token, connections, seconds):
    env = dict(os.environ, BENCH_BODY=body_file, BENCH_EXPECT=expect_file, BENCH_TOKEN=token)
    threads = min(2, connections)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "-s", os.path.join(HERE, "request.lua"), f"http://127.0.0.1:{port}/graphql"],
                         check=True, capture_output=True, text=True, env=env).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    checked, bad = map(int, re.search(r"CHECKED (\d+) BAD (\d+)", out).groups())
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests, "rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
        "checked": checked, "bad": bad,
        "socket_errors": errors.group(1) if errors else "",
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres",
                   help="a PostgreSQL database to connect to for creating the benchmark database")
    p.add_argument("--database", default="verband_bench")
    p.add_argument("--binary", help="the server binary (default: build target/release/verband)")
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--duration", type=int, default=30, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=5, help="seconds of warm-up before each run")
    p.add_argument("--only", help="comma-separated runs, e.g. q1,q2 (default: all)")
    p.add_argument("--env", action="append", default=[], help="extra server setting KEY=VALUE")
    args = p.parse_args()

    ensure_wrk()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=ROOT)
        binary = os.path.join(ROOT, "target", "release", "verband")
    admin, db = args.admin_url, args.database
    if args.reseed or not database_ready(admin, db):
        seed(binary, admin, db)

    personas = {
        "state": persona(admin, db, 1, "state_treasurer", "state_treasurer"),
        "federation": persona(admin, db, 0, "state_treasurer", "state_treasurer"),
        "stamm": persona(admin, db, 3, "treasurer", None),
    }
    for key, who in personas.items():
        log(f"persona {key}: {who['username']} at {who['unit']}: sees {who['members']} members, "
            f"{who['ibans']} with an IBAN")
    number = psql(admin, db, f"""
        SELECT m.membership_number FROM member m JOIN org_unit h ON h.id = m.home_unit_id
        JOIN bank_account b ON b.member_id = m.id
        WHERE h.path LIKE (SELECT o.path FROM org_unit o WHERE o.name = '{personas['state']['unit']}') || '%%'
        ORDER BY m.id LIMIT 1 OFFSET 1000""")

    runs = [
        # name, persona, request, connections
        ("q1", "state", {"query": Q1 % FIELDS}, 16),
        ("q1-1conn", "state", {"query": Q1 % FIELDS}, 1),
        ("q2", "state", {"query": Q2 % FIELDS, "variables": {"n": number}}, 16),
        ("q2-1conn", "state", {"query": Q2 % FIELDS, "variables": {"n": number}}, 1),
        ("q1-nobank", "state", {"query": Q1 % FIELDS_NO_BANK}, 16),
        ("q1-federation", "federation", {"query": Q1 % FIELDS}, 16),
        ("q1-stamm", "stamm", {"query": Q1 % FIELDS}, 16),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        runs = [r for r in runs if r[0] in wanted]

    port = free_port()
    base, _, _ = admin.rpartition("/")
    env = dict(os.environ, VERBAND_DATABASE_URL=f"{base}/{db}", VERBAND_LISTEN=f"127.0.0.1:{port}",
               VERBAND_LOG="warn", VERBAND_DEMO_DATA="false", VERBAND_TOKEN_TTL_SECONDS="86400",
               VERBAND_DB_MAX_CONNECTIONS="16")
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    work = tempfile.mkdtemp(prefix="verband-bench-")
    env.setdefault("VERBAND_DATA_DIR", work)
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(work, "server.log"), "w"))
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"server exited; see {work}/server.log")
                time.sleep(0.2)
        tokens = {}
        for key, who in personas.items():
            answer = json.loads(post(port, {
                "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
                "variables": {"u": who["username"], "p": PASSWORD}}))
            tokens[key] = answer["data"]["login"]["accessToken"]

        rows = []
        for name, who, request, connections in runs:
            body_file = os.path.join(work, f"{name}.json")
            expect_file = os.path.join(work, f"{name}.expected")
            with open(body_file, "w") as f:
                json.dump(request, f)
            first = post(port, request, tokens[who])
            second = post(port, request, tokens[who])
            answer = json.loads(first)
            if first != second or answer.get("errors") or not answer.get("data"):
                sys.exit(f"{name}: unexpected answer {first[:500]!r}")
            data = answer["data"]
            if "members" in data:
                nodes = [e["node"] for e in data["members"]["edges"]]
                # The caller's own record may come on top of what their offices show (R17).
                wanted = min(100, personas[who]["members"])
                if not wanted <= len(nodes) <= 100:
                    sys.exit(f"{name}: {len(nodes)} rows instead of {wanted}")
                with_iban = sum(1 for n in nodes if (n.get("bankAccount") or {}).get("iban"))
                shape = f"{len(nodes)} rows" + (f", {with_iban} IBANs" if "bankAccount" in request["query"] else "")
            else:
                shape = "1 member, IBAN " + ("yes" if data["memberByNumber"]["bankAccount"] else "no")
            with open(expect_file, "wb") as f:
                f.write(first)
            wrk(port, body_file, expect_file, tokens[who], connections, args.warmup)
            statements0 = metric(port, "verband_sql_statements_total")
            server0, pg0 = cpu_ticks(server.pid), postgres_ticks()
            result = wrk(port, body_file, expect_file, tokens[who], connections, args.duration)
            server1, pg1 = cpu_ticks(server.pid), postgres_ticks()
            statements1 = metric(port, "verband_sql_statements_total")
            n = max(result["requests"], 1)
            result.update({
                "name": name, "connections": connections, "shape": shape,
                "statements": (statements1 - statements0) / n,
                "server_ms": (server1 - server0) * 1000 / CLK_TCK / n,
                "pg_ms": (pg1 - pg0) * 1000 / CLK_TCK / n,
            })
            rows.append(result)
            log(line(result))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"\nbinary {binary}, database {db}; {args.duration} s per run after {args.warmup} s warm-up\n")
    print(HEADER)
    for r in rows:
        print(line(r))


HEADER = (f"{'run':14} {'conn':>4} {'req/s':>8} {'p50':>9} {'p99':>9} {'errors':>6} {'stmts':>6} "
          f"{'cpu ms':>7} {'server':>7} {'pg':>7}  response")


def line(r):
    errors = r["bad"] + r["non2xx"]
    return (f"{r['name']:14} {r['connections']:>4} {r['rps']:>8.0f} {r['p50'] or '-':>9} {r['p99'] or '-':>9} "
            f"{errors:>6} {r['statements']:>6.1f} {r['server_ms'] + r['pg_ms']:>7.2f} {r['server_ms']:>7.2f} "
            f"{r['pg_ms']:>7.2f}  {r['shape']}{'; socket errors ' + r['socket_errors'] if r['socket_errors'] else ''}")


if __name__ == "__main__":
    main()
