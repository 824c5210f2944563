#!/usr/bin/env python3
"""Scale-out on one machine (issue 23; docs/scale-out.md): three api instances of the suite cell
and two workers behind nginx, on one PostgreSQL and one Redis, run as a deployment runs them
(`migrate up` once as the owner, instances logged in as the application role with
`--no-migrate`, Redis for the cache and rate limits; development mode only because production
refuses a webhook receiver on the loopback). Measures and checks:

- throughput of a read at 1, 2 and 3 api instances, with the database's own figures (its CPU
  time, its transactions) over the same seconds;
- a caller's rate limit is the cell's, not one per instance;
- a notification reaches a WebSocket on another instance than the request that caused it;
- one api instance killed (SIGKILL) and one restarted (SIGTERM) under a write load: every
  accepted write is stored, and every failed request is counted and explained;
- every event is delivered once (webhooks to a local receiver, and the outbox's own records),
  and each schedule fires once per tick although two workers run it.

Run by scripts/scale-out.sh, which builds the release binary and installs nginx, wrk and the
Python `websockets` package. Prints a Markdown report; exits 1 when a check fails.
"""

import asyncio
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

BIN = os.path.abspath(os.environ.get("CELL_BIN", "target/release/suite"))
PG = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_DB = os.environ.get("SCALE_REDIS_DB", "7")
NGINX_PORT = 18080
API_PORTS = [18081, 18082, 18083]
WORKER_PORTS = [18091, 18092]
HOOK_PORT = 18099
SECONDS = int(os.environ.get("SCALE_SECONDS", "10"))
WRK_CONNECTIONS = int(os.environ.get("SCALE_CONNECTIONS", "16"))

WORK = tempfile.mkdtemp(prefix="scale-out-")
DB = f"scaleout_{int(time.time())}"
ROLE = "scaleout_app"
APP_PASSWORD = "app-" + secrets.token_hex(16)
METRICS_TOKEN = secrets.token_hex(16)
EMAIL, PASSWORD = "owner@scale.test", "Scale-out-passw0rd!"

report: list[str] = []
failures: list[str] = []


def say(line: str = "") -> None:
    report.append(line)
    print(line, file=sys.stderr, flush=True)


def check(ok: bool, what: str) -> None:
    say(f"- {'✔' if ok else '✘ FAILED:'} {what}")
    if not ok:
        failures.append(what)


def psql(sql: str, db: str = DB) -> str:
    out = subprocess.run(
        ["psql", f"{PG}/{db}", "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def base_env(owner: bool = False) -> dict:
    user = "postgres" if owner else ROLE
    env = {
        "PATH": os.environ["PATH"],
        # Production refuses webhook targets on private addresses, and the receiver here is on
        # the loopback: everything else is set as production requires it.
        "CELL__CELL__MODE": "development",
        "CELL__CELL__SECRET_KEY": "scale-out-secret-key-" + "x" * 32,
        "CELL__CELL__DATA_DIR": f"{WORK}/data",
        "CELL__DATABASE__URL": f"{PG.replace('postgres@', user + '@')}/{DB}",
        "CELL__DATABASE__APP_ROLE": ROLE,
        "CELL__DATABASE__MAX_CONNECTIONS": "8",
        "CELL__HTTP__PUBLIC_URL": f"http://127.0.0.1:{NGINX_PORT}",
        "CELL__HTTP__BEHIND_PROXY": "true",
        "CELL__REDIS__URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "CELL__CACHE__BACKEND": "redis",
        "CELL__RATE_LIMIT__BACKEND": "redis",
        # Throughput is measured for one caller: its general limit out of the way. The login
        # limit (10 per 15 minutes per email) is the one checked.
        "CELL__RATE_LIMIT__GROUPS__GENERAL__LIMIT": "100000000",
        "CELL__RATE_LIMIT__GROUPS__GENERAL__WINDOW_SECS": "60",
        "CELL__TELEMETRY__LOG_LEVEL": "warn",
        "CELL__TELEMETRY__METRICS_TOKEN": METRICS_TOKEN,
        "CELL__MODULES__ABM__HOOK_SECRETS": "whsec_c2NhbGUtb3V0LWhvb2stc2VjcmV0LTAxMjM0NTY3ODk=",
        "CELL__MODULES__WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        # The sign-in lockout (5 failures) is shared too; out of the way, so the check below
        # counts the `login` rate-limit group alone.
        "CELL__MODULES__AUTH__LOCKOUT_THRESHOLD": "1000",
    }
    if owner:
        env["CELL__DATABASE__APP_PASSWORD"] = APP_PASSWORD
    else:
        env["CELL__DATABASE__PASSWORD"] = APP_PASSWORD
    return env


class Instance:
    def __init__(self, role: str, port: int):
        self.role, self.port, self.proc = role, port, None
        self.log = open(f"{WORK}/{role}-{port}.log", "ab")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [BIN, "serve", "--role", self.role, "--no-migrate", "--port", str(self.port)],
            env=base_env(), stdout=self.log, stderr=self.log,
        )
        wait_http(self.port, "/health/ready")

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid) if self.proc and self.proc.poll() is None else 0.0

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            return self.proc.wait(timeout=60)
        return 0


def wait_http(port: int, path: str, timeout: float = 30) -> None:
    until = time.time() + timeout
    while time.time() < until:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered {path} on port {port}")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process (the primary's), now."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("postgres") and b"replica" not in cmd:
            total += process_cpu(int(pid))
    return total


def db_transactions() -> int:
    return int(psql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{DB}'"))


def command(args: list[str], env: dict, stdin: str | None = None) -> None:
    """Runs a one-off command of the cell; its output is shown when it fails."""
    out = subprocess.run(args, env=env, input=stdin, text=True, capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[1:])} exited {out.returncode}:\n{out.stderr[-3000:]}")


# --- nginx -----------------------------------------------------------------------------------

def nginx_conf(ports: list[int]) -> str:
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports)
    return f"""
worker_processes 1;
pid {WORK}/nginx.pid;
error_log {WORK}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {WORK}/nginx-body;
  proxy_temp_path {WORK}/nginx-proxy;
  fastcgi_temp_path {WORK}/nginx-fastcgi;
  uwsgi_temp_path {WORK}/nginx-uwsgi;
  scgi_temp_path {WORK}/nginx-scgi;
  upstream cell {{
{servers}
    keepalive 64;
  }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  server {{
    listen 127.0.0.1:{NGINX_PORT};
    client_max_body_size 2m;
    location / {{
      proxy_pass http://cell;
      proxy_http_version 1.1;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # Idempotent requests (GET, HEAD…) go to the next instance when one fails; a POST is
      # never sent twice (nginx's default without `non_idempotent`).
      proxy_next_upstream error timeout http_502 http_503;
    }}
  }}
}}
"""


def nginx(ports: list[int], reload: bool = True) -> None:
    with open(f"{WORK}/nginx.conf", "w") as f:
        f.write(nginx_conf(ports))
    args = ["nginx", "-p", WORK, "-c", f"{WORK}/nginx.conf"]
    if reload:
        subprocess.run(args + ["-s", "reload"], check=True)
        time.sleep(1)
    else:
        subprocess.run(args, check=True)
        wait_http(NGINX_PORT, "/health/live")


# --- HTTP ------------------------------------------------------------------------------------

def call(method: str, path: str, body=None, token: str | None = None, port: int = NGINX_PORT):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data.decode(errors="replace")
    return r.status, parsed


def metrics(port: int) -> dict:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    text = c.getresponse().read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+) ([0-9.e+-]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


# --- the webhook receiver --------------------------------------------------------------------

deliveries: list[str] = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        deliveries.append(self.headers.get("webhook-id", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


# --- phases ----------------------------------------------------------------------------------

def throughput(apis: list[Instance], token: str, task_id: str) -> None:
    say("## Throughput: `GET /api/v1/tasks/{id}` through nginx")
    say()
    say(f"wrk, {WRK_CONNECTIONS} connections, 2 threads, {SECONDS} s per run, after 2 s of warm-up;"
        " everything (nginx, wrk, the instances, PostgreSQL, Redis) on this machine's "
        f"{os.cpu_count()} cores.")
    say()
    say("| api instances | requests/s | p50 ms | p99 ms | non-2xx | PostgreSQL CPU (cores) | its transactions/s | instances' CPU (cores) |")
    say("|---|---|---|---|---|---|---|---|")
    lua = f"{WORK}/auth.lua"
    with open(lua, "w") as f:
        f.write(f'wrk.headers["authorization"] = "Bearer {token}"\n')
    url = f"http://127.0.0.1:{NGINX_PORT}/api/v1/tasks/{task_id}"
    rates = []
    for n in (1, 2, 3):
        nginx(API_PORTS[:n])
        subprocess.run(["wrk", "-t2", f"-c{WRK_CONNECTIONS}", "-d2s", "-s", lua, url],
                       check=True, capture_output=True)
        cpu0, tx0, inst0 = postgres_cpu(), db_transactions(), sum(a.cpu_seconds() for a in apis)
        t0 = time.time()
        out = subprocess.run(["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", lua, url],
                             check=True, capture_output=True, text=True).stdout
        elapsed = time.time() - t0
        cpu = (postgres_cpu() - cpu0) / elapsed
        tps = (db_transactions() - tx0) / elapsed
        inst = (sum(a.cpu_seconds() for a in apis) - inst0) / elapsed
        rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
        p50 = latency_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = latency_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        rates.append(rate)
        say(f"| {n} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {bad.group(1) if bad else 0} | {cpu:.2f} | {tps:,.0f} | {inst:.2f} |")
    say()
    best = max(range(3), key=lambda i: rates[i])
    say(f"Most requests/s with {best + 1} instance(s); from 1 to 3: ×{rates[2] / rates[0]:.2f}.")
    say()


def latency_ms(text: str) -> float:
    m = re.match(r"([0-9.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def rate_limit() -> None:
    say("## Rate limits are the cell's")
    say()
    statuses = Counter()
    codes = Counter()
    for i in range(25):
        status, body = call("POST", "/api/v1/auth/login", {"email": "limited@scale.test", "password": f"wrong-{i}"})
        statuses[status] += 1
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            codes[body["error"].get("code")] += 1
    limited = statuses[429]
    say(f"25 failed sign-ins for one email, spread by nginx over 3 instances (the `login` group: 10 per 15 min): {dict(statuses)}, codes {dict(codes)}.")
    check(25 - limited == 10, f"exactly 10 attempts reached the password check ({25 - limited}), not 10 per instance")
    say()


async def websocket_across(token: str, task_id: str) -> None:
    import websockets  # installed by scripts/scale-out.sh

    say("## A push reaches a WebSocket on another instance")
    say()
    headers = {"authorization": f"Bearer {token}"}
    async with websockets.connect(f"ws://127.0.0.1:{API_PORTS[0]}/ws", additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "entity_type": "task", "entity_id": task_id}))
        await asyncio.sleep(0.5)
        t0 = time.time()
        status, _ = await asyncio.to_thread(
            call, "PATCH", f"/api/v1/tasks/{task_id}", {"title": "changed on instance 2"}, token, API_PORTS[1])
        got = None
        try:
            while got is None:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if msg.get("type") == "event" or "event" in json.dumps(msg):
                    if task_id in json.dumps(msg):
                        got = msg
        except asyncio.TimeoutError:
            pass
        latency = (time.time() - t0) * 1000
    check(status == 200 and got is not None,
          f"socket on instance 1 (:{API_PORTS[0]}) got the task's event after a PATCH on instance 2 "
          f"(:{API_PORTS[1]}) in {latency:.0f} ms, through a worker's dispatch and PostgreSQL NOTIFY"
          + ("" if got else f" (PATCH {status}; nothing arrived)"))
    say()


def kill_and_restart(apis: list[Instance], token: str) -> None:
    say("## Killed and restarted under load")
    say()
    nginx(API_PORTS)
    stop = threading.Event()
    accepted: list[str] = []
    failed_writes: Counter = Counter()
    unknown: list[str] = []  # titles of writes whose answer never came
    reads_ok, reads_failed = [0], Counter()
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            title = f"load {n}-{i}"
            i += 1
            try:
                status, body = call("POST", "/api/v1/tasks", {"title": title}, token)
                with lock:
                    if status == 201:
                        accepted.append(body["id"])
                    else:
                        failed_writes[f"HTTP {status}"] += 1
                        unknown.append(title)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    failed_writes[type(e).__name__] += 1
                    unknown.append(title)

    def reader() -> None:
        while not stop.is_set():
            try:
                status, _ = call("GET", "/api/v1/tasks?limit=5", None, token)
                with lock:
                    if status == 200:
                        reads_ok[0] += 1
                    else:
                        reads_failed[f"HTTP {status}"] += 1
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    reads_failed[type(e).__name__] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)] + [threading.Thread(target=reader) for _ in range(2)]
    t0 = time.time()
    at = lambda: f"t={time.time() - t0:.1f} s"  # noqa: E731
    for t in threads:
        t.start()
    time.sleep(4)
    apis[1].stop(signal.SIGKILL)
    say(f"- {at()}: instance 2 (:{API_PORTS[1]}) killed with SIGKILL")
    time.sleep(3)
    say(f"- {at()}: instance 3 (:{API_PORTS[2]}) sent SIGTERM")
    code = apis[2].stop(signal.SIGTERM)
    say(f"- {at()}: instance 3 exited {code} (in-flight requests finished); started again")
    apis[2].start()
    say(f"- {at()}: instance 3 ready")
    time.sleep(3)
    apis[1].start()
    say(f"- {at()}: instance 2 started again and ready")
    time.sleep(5)
    stop.set()
    say(f"- {at()}: load stopped")
    for t in threads:
        t.join()
    ids = set(accepted)
    stored = set(psql("SELECT id FROM tasks_tasks WHERE title LIKE 'load %'").split()) if ids else set()
    lost = ids - stored
    say(f"- writes: {len(accepted)} accepted (201), {sum(failed_writes.values())} failed: {dict(failed_writes)}")
    say(f"- reads: {reads_ok[0]} answered 200, {sum(reads_failed.values())} failed: {dict(reads_failed)}")
    check(not lost, f"every accepted write is stored ({len(ids) - len(lost)} of {len(ids)})")
    if unknown:
        titles = ",".join("'" + t.replace("'", "''") + "'" for t in unknown)
        landed = int(psql(f"SELECT count(*) FROM tasks_tasks WHERE title IN ({titles})"))
        say(f"- of the {len(unknown)} failed writes, {landed} were stored anyway (the instance died after"
            " committing, before answering: the client cannot tell, which is what `Idempotency-Key` is for)"
            f" and {len(unknown) - landed} were not")
    dup = int(psql("SELECT count(*) FROM (SELECT title FROM tasks_tasks WHERE title LIKE 'load %' GROUP BY title HAVING count(*) > 1) d"))
    check(dup == 0, "no write was applied twice (nginx does not resend a POST)")
    say()


def exactly_once(workers: list[Instance]) -> None:
    say("## Every event once, every schedule tick once (two workers)")
    say()
    # Drained: no outbox delivery due, no job due, no webhook delivery pending.
    until = time.time() + 180
    while time.time() < until:
        m = metrics(workers[0].port)
        pending = int(psql("SELECT count(*) FROM webhooks_deliveries WHERE status = 'pending'"))
        if m.get("events_pending", 1) == 0 and m.get("jobs_ready", 1) == 0 and pending == 0:
            break
        time.sleep(1)
    drained = time.time() + 180 - until
    say(f"- drained {drained:.0f} s after the load stopped")
    expected = int(psql("SELECT count(*) FROM kernel_events WHERE name LIKE 'tasks.%'"))
    ids = Counter(deliveries)
    dups = sum(c - 1 for c in ids.values() if c > 1)
    say(f"- tasks events in the outbox: {expected}; webhook deliveries received: {len(deliveries)}, distinct: {len(ids)}")
    check(dups == 0, f"no webhook delivered twice ({dups} duplicates)")
    check(len(ids) == expected, f"every tasks event delivered ({len(ids)} of {expected})")
    retried = int(psql("SELECT count(*) FROM kernel_event_deliveries WHERE attempts > 1"))
    undone = psql("SELECT status || ' ' || count(*) FROM kernel_event_deliveries WHERE status <> 'done' GROUP BY status")
    check(retried == 0 and not undone, f"every outbox delivery ran once and is done (retried: {retried}; not done: {undone or 'none'})")
    ticks = psql("SELECT schedule || ' ' || count(*) FROM kernel_schedule_ticks GROUP BY schedule ORDER BY 1")
    twice = int(psql("SELECT count(*) FROM (SELECT name, payload FROM kernel_jobs WHERE payload LIKE '{\"tick\"%' GROUP BY name, payload HAVING count(*) > 1) d"))
    say(f"- schedule ticks fired while the two workers ran: {ticks.replace(chr(10), ', ') or 'none'}")
    check(twice == 0, "no schedule tick made two jobs")
    runs_twice = int(psql("SELECT count(*) FROM (SELECT job_id FROM kernel_job_runs GROUP BY job_id HAVING count(*) > 1) d"))
    check(runs_twice == 0, f"no job ran twice ({runs_twice})")
    say()


def main() -> int:
    started = time.time()
    for tool in ("nginx", "wrk", "psql", "redis-cli"):
        if not shutil.which(tool):
            print(f"scale-out: {tool} is missing (scripts/scale-out.sh installs it)", file=sys.stderr)
            return 2
    os.makedirs(f"{WORK}/data", exist_ok=True)
    subprocess.run(["psql", f"{PG}/postgres", "-qAtc", f"CREATE DATABASE {DB}"], check=True)
    subprocess.run(["redis-cli", "-n", REDIS_DB, "FLUSHDB"], check=True, capture_output=True)
    instances: list[Instance] = []
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        # Once per release, as the owner: migrations, and the app role's login.
        command([BIN, "migrate", "up"], base_env(owner=True))
        # Operator commands run as the migration task does (they apply pending migrations first).
        command([BIN, "users", "create", "--email", EMAIL, "--org", "Scale out"], base_env(owner=True), PASSWORD + "\n")
        workers = [Instance("worker", p) for p in WORKER_PORTS]
        apis = [Instance("api", p) for p in API_PORTS]
        instances = workers + apis
        for i in instances:
            i.start()
        nginx(API_PORTS, reload=False)
        status, tokens = call("POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
        assert status == 200, tokens
        token = tokens["access_token"]
        # The subscription first: every tasks event after it is delivered.
        status, sub = call("POST", "/api/v1/webhooks", {"url": f"http://127.0.0.1:{HOOK_PORT}/hook", "events": ["tasks.*"]}, token)
        assert status == 201, sub
        status, task = call("POST", "/api/v1/tasks", {"title": "read me"}, token)
        assert status == 201, task

        say(f"# Scale-out run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        say()
        say(f"`{os.path.relpath(BIN)}`; 3 api instances (`serve --role api --no-migrate`), 2 workers"
            " (`--role worker`), nginx in front; PostgreSQL 15 and Redis on the same machine; serving"
            " as the application role, logged in with its own password.")
        say()
        throughput(apis, token, task["id"])
        rate_limit()
        asyncio.run(websocket_across(token, task["id"]))
        kill_and_restart(apis, token)
        exactly_once(workers)
        say(f"Run time: {time.time() - started:.0f} s.")
    finally:
        hook.shutdown()
        if os.path.exists(f"{WORK}/nginx.pid"):
            subprocess.run(["nginx", "-p", WORK, "-c", f"{WORK}/nginx.conf", "-s", "quit"], capture_output=True)
        for i in instances:
            i.stop(signal.SIGTERM)
        if os.environ.get("SCALE_KEEP") != "1":
            subprocess.run(["psql", f"{PG}/postgres", "-qAtc", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"], capture_output=True)
            subprocess.run(["psql", f"{PG}/postgres", "-qAtc", f"DROP ROLE IF EXISTS {ROLE}"], capture_output=True)
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            print(f"kept: database {DB}, logs in {WORK}", file=sys.stderr)
    print("\n".join(report))
    if failures:
        print(f"\nscale-out: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
