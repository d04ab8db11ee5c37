#!/usr/bin/env python3
"""Import benchmark: `POST /imports/members.csv` of new members (IBANs for 60 %) into
a release server on the synthetic federation, on PostgreSQL or SQLite, then the
same file again (every row unchanged). Prints the time of each upload and the
server's memory (VmHWM, the peak since start, and VmRSS) after each.

    python3 benches/import/bench.py --backend postgres
    python3 benches/import/bench.py --backend sqlite --rows 100000
    python3 benches/import/bench.py --write-file members.csv --rows 1000 --unit-names "Stamm 1,Stamm 2"

The seeded database (`seed --synthetic --members 1000000 --units 10000 --seed 1`) is
made once and kept as a template (PostgreSQL: database `verband_import_tpl`; SQLite:
a file in --work); every run imports into a fresh copy of it. The importing user is
a state member administrator (state_member_admin at a Land, level and tree group),
and the rows go to the Stämme of that Land. A warm-up import of --small rows comes
first, so that the peak after it shows what the server needs without the big file.

Not a test: numbers depend on the machine; run it on a quiet one, with
`cargo build --release` done.
"""
import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PASSWORD = "verband-demo"

FIRST = ["Anna", "Lena", "Marie", "Sophie", "Lea", "Hannah", "Mia", "Emma", "Paula", "Greta",
         "Lukas", "Jonas", "Leon", "Finn", "Paul", "Felix", "Noah", "Elias", "Ben", "Emil"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann"]
CITIES = [("Kassel", "34117"), ("Fulda", "36037"), ("Marburg", "35037"), ("Gießen", "35390"),
          ("Darmstadt", "64283"), ("Wiesbaden", "65183"), ("Hanau", "63450")]
STREETS = ["Hauptstraße", "Schulstraße", "Gartenweg", "Bahnhofstraße", "Am Markt", "Lindenallee"]
BICS = ["COBADEFFXXX", "DEUTDEFFXXX", "INGDDEFFXXX", "GENODEF1S01"]
HEADER = ["membershipNumber", "firstName", "lastName", "birthDate", "email", "phone", "street",
          "postalCode", "city", "country", "homeUnit", "iban", "bic", "accountHolder"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def iban_de(bank_code, account):
    """A German IBAN with valid check digits (ISO 13616, mod 97)."""
    bban = f"{bank_code:08d}{account:010d}"
    check = 98 - int(bban + "131400") % 97
    return f"DE{check:02d}{bban}"


def letters(i):
    out = ""
    i += 26 * 26
    while i:
        i, r = divmod(i, 26)
        out = chr(ord("a") + r) + out
    return out


def write_file(path, rows, units, seed, iban_share=0.6):
    """New members (no membership number), unique by name; IBANs for `iban_share`."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\r\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), f"{rng.choice(LAST)}-{letters(seed * 10_000_000 + i)}"
            city, plz = rng.choice(CITIES)
            born = f"{rng.randint(1950, 2015)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            bank = ["", "", ""]
            if rng.random() < iban_share:
                bank = [iban_de(rng.randint(10_000_000, 89_999_999), rng.randint(1, 9_999_999_999)),
                        rng.choice(BICS), f"{first} {last}"]
            cells = ["", first, last, born, f"{first}.{i}@example.org".lower(),
                     f"+49 {rng.randint(30, 999)} {rng.randint(100000, 9999999)}",
                     f"{rng.choice(STREETS)} {rng.randint(1, 120)}", plz, city, "DE",
                     rng.choice(units)] + bank
            f.write(",".join(cells) + "\r\n")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def with_db(admin_url, name):
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


PERSONA_SQL = """
SELECT u.username, o.path FROM assignment a
JOIN org_unit o ON o.id = a.org_unit_id
JOIN level l ON l.id = o.level_id
JOIN permission_group lg ON lg.id = a.level_group_id
JOIN permission_group tg ON tg.id = a.tree_group_id
JOIN app_user u ON u.member_id = a.member_id
JOIN member m ON m.id = a.member_id
WHERE l.rank = 1 AND lg.key = 'state_member_admin' AND tg.key = 'state_member_admin'
  AND a.status = 'ACTIVE' AND m.status = 'ACTIVE'
ORDER BY o.id LIMIT 1
"""
UNITS_SQL = """
SELECT o.name FROM org_unit o JOIN level l ON l.id = o.level_id
WHERE l.rank = 3 AND o.status = 'ACTIVE' AND o.path LIKE '{path}%' ORDER BY o.id
"""


class Postgres:
    def __init__(self, admin, binary, members, units):
        self.admin, self.binary, self.members, self.units = admin, binary, members, units
        self.template = "verband_import_tpl"

    def prepare(self):
        url = with_db(self.admin, self.template)
        exists = psql(self.admin, f"SELECT 1 FROM pg_database WHERE datname = '{self.template}'")
        if exists == "1" and psql(url, "SELECT count(*) FROM member") == str(self.members):
            return
        log(f"seeding {self.template}: {self.members} members, {self.units} units (minutes)")
        psql(self.admin, f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")
        psql(self.admin, f"CREATE DATABASE {self.template}")
        seed(self.binary, url, None, self.members, self.units)
        psql(url, "VACUUM ANALYZE")

    def fresh(self):
        name = "verband_import_run"
        psql(self.admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(self.admin, f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return with_db(self.admin, name)

    def query(self, url, sql):
        return [line.split("|") for line in psql(url, sql).splitlines()]


class Sqlite:
    def __init__(self, work, binary, members, units):
        self.work, self.binary, self.members, self.units = work, binary, members, units
        self.template = os.path.join(work, "template", "verband.db")

    def prepare(self):
        if os.path.exists(self.template):
            with sqlite3.connect(self.template) as c:
                if c.execute("SELECT count(*) FROM member").fetchone()[0] == self.members:
                    return
        log(f"seeding {self.template}: {self.members} members, {self.units} units (minutes)")
        shutil.rmtree(os.path.dirname(self.template), ignore_errors=True)
        os.makedirs(os.path.dirname(self.template))
        seed(self.binary, f"sqlite://{self.template}?mode=rwc", os.path.dirname(self.template),
             self.members, self.units)
        with sqlite3.connect(self.template) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.execute("ANALYZE")

    def fresh(self):
        run = os.path.join(self.work, "run")
        shutil.rmtree(run, ignore_errors=True)
        os.makedirs(run)
        shutil.copy(self.template, os.path.join(run, "verband.db"))
        return f"sqlite://{run}/verband.db?mode=rwc"

    def query(self, url, sql):
        path = url[len("sqlite://"):].split("?")[0]
        with sqlite3.connect(path) as c:
            return [[str(v) for v in row] for row in c.execute(sql).fetchall()]


def seed(binary, url, data_dir, members, units):
    env = dict(os.environ, VERBAND_DATABASE_URL=url, VERBAND_LOG="warn")
    if data_dir:
        env["VERBAND_DATA_DIR"] = data_dir
    subprocess.run([binary, "seed", "--synthetic", "--members", str(members), "--units", str(units),
                    "--seed", "1"], check=True, env=env, stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(base, path, token=None, data=None, headers=None):
    req = urllib.request.Request(base + path, data=data, method="POST", headers=headers or {})
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=900) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def upload(base, token, path, pid, label):
    with open(path, "rb") as f:
        body = f.read()
    cpu = cpu_seconds(pid)
    started = time.monotonic()
    status, report = post(base, "/imports/members.csv", token, body, {"content-type": "text/csv"})
    seconds = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu
    hwm, rss = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
    counts = {k: report.get(k) for k in ("rows", "created", "updated", "unchanged", "errorCount")}
    print(f"{label:<28} {len(body) / 1e6:6.1f} MB  HTTP {status}  {seconds:7.2f} s  "
          f"{counts['rows'] / seconds:8.0f} rows/s  server CPU {cpu:6.2f} s  "
          f"VmHWM {hwm / 1024:6.1f} MiB  VmRSS {rss / 1024:6.1f} MiB  {json.dumps(counts)}", flush=True)
    if report.get("errorCount"):
        log(json.dumps(report["errors"][:5], ensure_ascii=False))
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--small", type=int, default=10_000, help="rows of the warm-up import")
    p.add_argument("--large", type=int, default=0,
                   help="rows of one more import at the end, to see whether the peak memory grows with the file")
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--units", type=int, default=10_000)
    p.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--url-options", default="",
                   help="appended to the server's PostgreSQL URL, e.g. sslmode=disable (sqlx prefers TLS)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "verband-import-bench"))
    p.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                    "release", "verband"))
    p.add_argument("--write-file", help="only write a file of --rows rows, into --unit-names")
    p.add_argument("--unit-names", default="Stamm Fulda", help="home units of --write-file, comma-separated")
    args = p.parse_args()
    if args.write_file:
        write_file(args.write_file, args.rows, [u.strip() for u in args.unit_names.split(",")], seed=1)
        return
    os.makedirs(args.work, exist_ok=True)
    db = (Postgres(args.admin_url, args.binary, args.members, args.units) if args.backend == "postgres"
          else Sqlite(args.work, args.binary, args.members, args.units))
    db.prepare()
    url = db.fresh()
    username, path = db.query(url, PERSONA_SQL)[0]
    units = [row[0] for row in db.query(url, UNITS_SQL.format(path=path))]
    log(f"importing as {username} into {len(units)} Stämme below {path}")
    small, big = os.path.join(args.work, "small.csv"), os.path.join(args.work, "big.csv")
    write_file(small, args.small, units, seed=2)
    write_file(big, args.rows, units, seed=3)

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="verband-import-bench-")
    server_url = f"{url}?{args.url_options}" if args.url_options and args.backend == "postgres" else url
    env = dict(os.environ, VERBAND_DATABASE_URL=server_url, VERBAND_LISTEN=f"127.0.0.1:{port}",
               VERBAND_DEMO_DATA="false", VERBAND_DATA_DIR=data_dir,
               VERBAND_LOG="info,sqlx=warn,sea_orm=warn,verband::access=warn")
    server = subprocess.Popen([args.binary], env=env, stderr=open(os.path.join(args.work, "server.log"), "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        login = json.dumps({"query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
                                     "{ accessToken } }", "variables": {"u": username, "p": PASSWORD}}).encode()
        _, body = post(base, "/graphql", data=login, headers={"content-type": "application/json"})
        token = body["data"]["login"]["accessToken"]
        print(f"{args.backend}, {args.members} members: server VmHWM at start "
              f"{status_kib(server.pid, 'VmHWM') / 1024:.1f} MiB", flush=True)
        upload(base, token, small, server.pid, f"warm-up: {args.small} new")
        first = upload(base, token, big, server.pid, f"{args.rows} new")
        again = upload(base, token, big, server.pid, "the same file again")
        if args.large:
            large = os.path.join(args.work, "large.csv")
            write_file(large, args.large, units, seed=4)
            upload(base, token, large, server.pid, f"{args.large} new")
        ok = (first.get("created") == args.rows and again.get("unchanged") == args.rows
              and not first.get("errorCount") and not again.get("errorCount"))
        if not ok:
            sys.exit("unexpected counts")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
