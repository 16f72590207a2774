"""Haupt's side of the runs and pipelines benches, measured on this machine in the same
`cargo xtask bench`.

Run with the Python of a venv holding `haupt[sandbox]==2.18.0` and `polyaxon==2.18.0`
(`cargo xtask bench` makes it). It starts `haupt sandbox start` (Polyaxon's own server, SQLite
store, one uvicorn worker) on a free loopback port in a temporary folder, as
`../shared/docs/peer-anchors.md` describes, seeds a project of 100,000 runs and prints one JSON
object on stdout (times in milliseconds):

- `lists`: for each list request `backend/benches/runs.rs` times beside haupt (`newest`:
  `limit=20&sort=-created_at`; `running`: `query=status:running`; `lr_above`:
  `query=inputs.lr:>0.01`), `same_url` is the same URL, which haupt's default
  `created_at:last_month` filter bounds, and `all_rows` adds `created_at:_any_` to count every
  row as Myelin does. Each is `{"p50", "p95", "n", "count"}`, `count` being haupt's answer.
- `create`: `POST /api/v1/default/scale/runs` with a V1OperationBody whose content is the runs
  bench's job operation, into the project holding the 100,000 runs (after the lists, so that
  they count exactly the seeded runs).
- `db_bytes`, `db_bytes_per_run`: the SQLite file after seeding, whole and over the 100,000 runs.

The runs are shaped as `backend/benches/runs.rs` seeds Myelin's, drawn from the same xorshift64*
sequence so that the same runs get the same status, inputs and loss: created one minute apart up
to now; 70% succeeded, 12% failed, 5% stopped, 5% running, 5% queued, 3% created, with status
conditions in lifecycle order; `inputs` lr (log-uniform over [1e-4, 10^-0.5]), batch_size and
optimizer, with matching `params`; a `loss` output on every finished run; tags `scale` and a
group. A template run is created through the API (so every row carries its compiled content,
as runs made through the API do); its fields are copied 100,000 times with Django's ORM
(`bulk_create`, 500 a batch, as the peer anchors were seeded: creating them through the API would
take about an hour), in a child process that boots Django with haupt's own settings as its CLI
does.

Timing follows the peer anchors: one keep-alive `requests` session, 3 untimed calls, then 30
timed ones in sequence; p50 is the median, p95 the nearest rank (the 29th of 30). Every answer is
checked (HTTP status, count, page length, first row) so that an error cannot be timed as a
success. The server and its folder are removed at the end, also on error. Progress goes to
stderr.
"""

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 100_000
BATCH = 500
WARM_UP = 3
SAMPLES = 30
PAGE = 20
OWNER = "default"
PROJECT = "scale"
TEMPLATE_PROJECT = "template"
VERSION = "2.18.0"
# Bounds: the server's start (migrations included), one request, the seeding child.
START_TIMEOUT = 180
REQUEST_TIMEOUT = (5, 120)
SEED_TIMEOUT = 1_200

# The job the runs bench submits (`support::JOB`), from the same file.
JOB_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "backend", "benches", "support", "job.yaml"
)
with open(JOB_FILE, encoding="utf-8") as job_file:
    JOB = job_file.read()

# The list requests of backend/benches/runs.rs that it prints haupt beside: its key, and the
# query (if any) of its URL, whose other params are `limit=20&sort=-created_at`.
LISTS = [("newest", None), ("running", "status:running"), ("lr_above", "inputs.lr:>0.01")]


def log(message):
    print(f"haupt bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def haupt_env(folder):
    """The environment the server and the seeding child share: one home, one database file."""
    env = dict(os.environ)
    env.update(
        {
            "POLYAXON_HOME": os.path.join(folder, "plxhome"),
            "POLYAXON_DISABLE_ERRORS_REPORTING": "true",
            "POLYAXON_UI_OFFLINE": "true",
            "POLYAXON_UI_IN_SANDBOX": "true",
            "POLYAXON_DB_NAME": os.path.join(folder, "sandbox", "plx.db"),
        }
    )
    return env


class Server:
    def __init__(self, folder):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sandbox = os.path.join(folder, "sandbox")
        self.db = os.path.join(self.sandbox, "plx.db")
        os.makedirs(self.sandbox)
        self.log_path = os.path.join(folder, "server.log")
        command = [
            os.path.join(os.path.dirname(sys.executable), "haupt"),
            "sandbox",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--path",
            self.sandbox,
            "--workers",
            "1",
        ]
        with open(self.log_path, "wb") as server_log:
            self.process = subprocess.Popen(
                command,
                env=haupt_env(folder),
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        import requests

        self.session = requests.Session()
        # Any token is accepted; the sandbox has no users.
        self.session.headers["Authorization"] = "token x"

    def log_tail(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as server_log:
                return "".join(server_log.readlines()[-30:])
        except OSError:
            return ""

    def fail(self, message):
        raise SystemExit(f"haupt bench: {message}\n--- the server's log, last lines:\n{self.log_tail()}")

    def wait(self):
        import requests

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"haupt sandbox exited ({self.process.returncode})")
            try:
                answer = self.session.get(self.base + f"/api/v1/{OWNER}/projects/list", timeout=(2, 10))
                if answer.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.fail(f"haupt sandbox did not answer within {START_TIMEOUT} s")

    def call(self, method, path, expected, **kwargs):
        answer = self.session.request(method, self.base + path, timeout=REQUEST_TIMEOUT, **kwargs)
        if answer.status_code != expected:
            self.fail(f"{method} {path}: HTTP {answer.status_code}, not {expected}: {answer.text[:500]}")
        return answer.json()

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)


def timed(call):
    """Peer anchors' method: 3 untimed calls, 30 timed ones; the last call's answer with them."""
    for _ in range(WARM_UP):
        call()
    times = []
    answer = None
    for _ in range(SAMPLES):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    p95 = times[max(0, math.ceil(0.95 * len(times)) - 1)]
    return {"p50": statistics.median(times), "p95": p95, "n": len(times)}, answer


def operation_content():
    """The job as `polyaxon run -f` sends it: checked by Polyaxon, as its source JSON."""
    from polyaxon._client.run import RunClient
    from polyaxon._polyaxonfile.check import check_polyaxonfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as polyaxonfile:
        polyaxonfile.write(JOB)
        polyaxonfile.flush()
        operation = check_polyaxonfile(polyaxonfile=polyaxonfile.name, verbose=False, is_cli=False)
    client = RunClient.__new__(RunClient)
    return client._normalize_operation_content(operation)


class Rng:
    """backend/benches/runs.rs's xorshift64*, so both benches seed the same runs."""

    MASK = (1 << 64) - 1

    def __init__(self, state):
        self.state = state

    def next(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & self.MASK
        x ^= x >> 27
        self.state = x
        return (x * 0x2545_F491_4F6C_DD1D) & self.MASK

    def unit(self):
        return (self.next() >> 11) / float(1 << 53)

    def pick(self, items):
        return items[self.next() % len(items)]


def seed(sandbox, template_uuid, result):
    """In the child process: boots Django as `haupt sandbox start` does, then copies the template
    run RUNS times into the project; writes what the lists must answer to `result` as JSON."""
    import uuid
    from datetime import timedelta

    os.environ["POLYAXON_SERVICE"] = "api"
    from polyaxon._cli.config import set_home_path

    set_home_path(home_path=sandbox)
    from haupt import settings

    settings.set_sandbox_config()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "haupt.polyconf.settings")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils.timezone import now

    from haupt.db.defs import Models

    if os.path.realpath(connection.settings_dict["NAME"]) != os.path.realpath(os.environ["POLYAXON_DB_NAME"]):
        raise SystemExit(f"Django opened {connection.settings_dict['NAME']}, not the sandbox's database")
    Run = Models.Run
    # Keep the times set here: `bulk_create` would otherwise stamp every row with now.
    for field in Run._meta.concrete_fields:
        if field.name in ("created_at", "updated_at"):
            field.auto_now = False
            field.auto_now_add = False
    template = Run.all.get(uuid=template_uuid)
    project = Models.Project.objects.get(name=PROJECT)
    copied = {
        field.attname: getattr(template, field.attname)
        for field in Run._meta.concrete_fields
        if not field.primary_key
    }

    def stamp(moment):
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def condition(kind, moment):
        return {
            "type": kind,
            "status": "True",
            "reason": "Bench",
            "message": kind,
            "last_update_time": stamp(moment),
            "last_transition_time": stamp(moment),
        }

    rng = Rng(0x9E37_79B9_7F4A_7C15)
    expected = {key: {"count": 0, "first": None} for key, _ in LISTS}
    first_created = now() - timedelta(minutes=RUNS)
    started = time.monotonic()
    batch = []

    def flush():
        with transaction.atomic():
            Run.objects.bulk_create(batch, batch_size=BATCH)
        batch.clear()

    for index in range(RUNS):
        created_at = first_created + timedelta(minutes=index)
        draw = rng.unit()
        if draw < 0.70:
            status = "succeeded"
        elif draw < 0.82:
            status = "failed"
        elif draw < 0.87:
            status = "stopped"
        elif draw < 0.92:
            status = "running"
        elif draw < 0.97:
            status = "queued"
        else:
            status = "created"
        lr = 10.0 ** (-4.0 + 3.5 * rng.unit())
        inputs = {
            "lr": lr,
            "batch_size": rng.pick([16, 32, 64, 128]),
            "optimizer": rng.pick(["adam", "sgd"]),
        }
        group = rng.pick(["baseline", "sweep", "ablation"])
        duration = 30.0 + 1_800.0 * rng.unit()
        done = status in ("succeeded", "failed", "stopped")
        after = lambda seconds: created_at + timedelta(seconds=seconds)  # noqa: E731
        steps = {
            "created": [],
            "queued": [("compiled", 0.0), ("queued", 1.0)],
            "running": [("compiled", 0.0), ("queued", 1.0), ("running", 5.0)],
        }.get(status, [("compiled", 0.0), ("queued", 1.0), ("running", 5.0), (status, 5.0 + duration)])
        conditions = [condition("created", created_at)] + [condition(kind, after(at)) for kind, at in steps]
        row = dict(copied)
        row.update(
            uuid=uuid.uuid4(),
            name=f"bulk-{index}",
            tags=[PROJECT, group],
            project_id=project.id,
            status=status,
            status_conditions=conditions,
            inputs=inputs,
            params={name: {"value": value} for name, value in inputs.items()},
            outputs=None,
            created_at=created_at,
            updated_at=after(steps[-1][1]) if steps else created_at,
            checked_at=created_at,
            started_at=after(5.0) if status == "running" or done else None,
            finished_at=after(5.0 + duration) if done else None,
            wait_time=5.0 if status == "running" or done else None,
            duration=duration if done else None,
        )
        if done:
            row["outputs"] = {"loss": 0.05 + 0.3 * abs(math.log10(lr) + 2.5) + 0.2 * rng.unit()}
        batch.append(Run(**row))
        # Runs are made oldest first, so under `-created_at` the latest match leads.
        for key, matches in (("newest", True), ("running", status == "running"), ("lr_above", lr > 0.01)):
            if matches:
                expected[key]["count"] += 1
                expected[key]["first"] = row["uuid"].hex
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    took = time.monotonic() - started
    stored = Run.all.filter(project_id=project.id).count()
    if stored != RUNS:
        raise SystemExit(f"the project holds {stored} runs, not {RUNS}")
    with open(result, "w", encoding="utf-8") as out:
        json.dump({"seconds": took, "expected": expected}, out)


def seed_in_child(server, folder, template_uuid):
    """Runs `seed` in a child process with the server's environment; what the lists must answer."""
    result = os.path.join(folder, "seeded.json")
    try:
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--seed", server.sandbox, template_uuid, result],
            env=haupt_env(folder),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            stderr=sys.stderr,
            timeout=SEED_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"haupt bench: seeding took longer than {SEED_TIMEOUT} s") from None
    if child.returncode != 0:
        raise SystemExit(f"haupt bench: seeding failed ({child.returncode})")
    with open(result, encoding="utf-8") as seeded:
        return json.load(seeded)


def time_lists(server, expected):
    lists = {}
    for key, query in LISTS:
        lists[key] = {}
        for variant, extra in (("same_url", None), ("all_rows", "created_at:_any_")):
            filters = [part for part in (query, extra) if part]
            params = {"limit": PAGE, "sort": "-created_at"}
            if filters:
                params["query"] = ",".join(filters)
            path = f"/api/v1/{OWNER}/{PROJECT}/runs"

            def call():
                return server.call("GET", path, 200, params=params)

            timing, page = timed(call)
            count = page["count"]
            want = expected[key]
            results = page["results"]
            shown = "&".join(f"{name}={value}" for name, value in params.items())
            if variant == "all_rows" and count != want["count"]:
                server.fail(f"{shown}: count {count}, the seed made {want['count']}")
            if not 0 < count <= want["count"]:
                server.fail(f"{shown}: count {count} of {want['count']} matching runs")
            if len(results) != min(PAGE, count):
                server.fail(f"{shown}: {len(results)} rows")
            if results[0]["uuid"] != want["first"]:
                server.fail(f"{shown}: first row {results[0]['uuid']}, not the newest match {want['first']}")
            timing["count"] = count
            lists[key][variant] = timing
            log(f"{shown}: p50 {timing['p50']:.0f} ms, p95 {timing['p95']:.0f} ms, count {count}")
    return lists


def time_create(server, content):
    made = []

    def call():
        answer = server.call("POST", f"/api/v1/{OWNER}/{PROJECT}/runs", 201, json={"content": content})
        if answer.get("kind") != "job" or not answer.get("uuid"):
            server.fail(f"create run answered {answer}")
        made.append(answer["uuid"])
        return answer

    timing, _ = timed(call)
    log(f"create run: p50 {timing['p50']:.0f} ms, p95 {timing['p95']:.0f} ms ({len(made)} runs)")
    return timing


def main():
    folder = tempfile.mkdtemp(prefix="myelin-haupt-")
    server = None

    def terminated(signum, _frame):
        raise SystemExit(f"haupt bench: stopped by signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)
    try:
        server = Server(folder)
        log(f"starting haupt {VERSION} sandbox on {server.base}")
        started = time.monotonic()
        server.wait()
        log(f"up in {time.monotonic() - started:.1f} s")
        content = operation_content()
        server.call("POST", f"/api/v1/{OWNER}/projects/create", 201, json={"name": TEMPLATE_PROJECT})
        server.call("POST", f"/api/v1/{OWNER}/projects/create", 201, json={"name": PROJECT})
        template = server.call("POST", f"/api/v1/{OWNER}/{TEMPLATE_PROJECT}/runs", 201, json={"content": content})
        log(f"seeding {RUNS:,} runs with Django's bulk_create ({BATCH} a batch)")
        seeded = seed_in_child(server, folder, template["uuid"])
        db_bytes = sum(
            os.path.getsize(server.db + suffix)
            for suffix in ("", "-wal", "-journal")
            if os.path.exists(server.db + suffix)
        )
        log(f"seeded in {seeded['seconds']:.1f} s; database {db_bytes / 1e6:.0f} MB")
        lists = time_lists(server, seeded["expected"])
        create = time_create(server, content)
        print(
            json.dumps(
                {
                    "version": VERSION,
                    "runs": RUNS,
                    "seed_seconds": seeded["seconds"],
                    "db_bytes": db_bytes,
                    "db_bytes_per_run": db_bytes / RUNS,
                    "lists": lists,
                    "create": create,
                }
            ),
            flush=True,
        )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--seed":
        seed(*sys.argv[2:])
    else:
        main()
