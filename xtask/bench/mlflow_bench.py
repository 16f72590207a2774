"""MLflow's side of the metrics bench, measured on this machine in the same `cargo xtask bench`.

Run with the Python of a venv holding `mlflow==3.17.2` (`cargo xtask bench` makes it). It starts
`mlflow server` on a free loopback port with a SQLite store in a temporary folder, seeds it, times
two requests and prints one JSON object on stdout (milliseconds):

- `sampled_1m`: `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval` with
  `max_results=1000` on one run whose metric has 1,000,000 points, logged through the REST API
  (`runs/log-batch`, 1,000 points a call, as the client batches them);
- `search_loss`: `POST /api/2.0/mlflow/runs/search` with `filter="metrics.loss < 0.5"`, 20 a page
  by start time, over 100,000 runs of one experiment. A template run is made through the REST
  API, then its rows in every table are copied 100,000 times with new ids, names, start times
  and values, straight into the server's SQLite file (as the peer anchors were seeded: logging
  100,000 runs through the API would take most of an hour).

Each timing is `{"p50", "p95", "n"}`, nearest-rank, after two untimed calls. The server and its
folder are removed at the end. Progress goes to stderr.
"""

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

RUNS = 100_000
POINTS = 1_000_000
BATCH = 1_000


def log(message):
    print(f"mlflow bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, folder):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = os.path.join(folder, "mlflow.db")
        command = [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.db}",
            "--default-artifact-root",
            os.path.join(folder, "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait(self, seconds=180):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"mlflow server exited ({self.process.returncode})")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("mlflow server did not answer within 180 s")

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.loads(answer.read() or b"{}")

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def curve(step):
    """A decaying loss with a spike now and then, like the Myelin bench's."""
    value = 1.0 / (1.0 + step / 10_000.0) + 0.01 * math.sin(step)
    return value + (5.0 if step % 2_000 == 1_000 else 0.0)


def timed(call, samples):
    call()
    call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    rank = lambda q: times[max(0, math.ceil(q * len(times)) - 1)]
    return {"p50": rank(0.50), "p95": rank(0.95), "n": len(times)}


def seed_long_run(server, experiment):
    run = server.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": experiment})
    run_id = run["run"]["info"]["run_id"]
    started = time.monotonic()
    stamp = 1_735_689_600_000
    for first in range(0, POINTS, BATCH):
        metrics = [
            {"key": "loss", "value": curve(step), "timestamp": stamp + step, "step": step}
            for step in range(first, first + BATCH)
        ]
        server.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    log(f"logged {POINTS:,} points in {time.monotonic() - started:.0f} s")
    return run_id


def seed_runs(server, experiment):
    """A template run through the API, then copies of its rows straight into the store."""
    run = server.call(
        "POST",
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": experiment, "run_name": "template", "start_time": 1_735_689_600_000},
    )
    template = run["run"]["info"]["run_id"]
    server.call("POST", "/api/2.0/mlflow/runs/log-parameter", {"run_id": template, "key": "lr", "value": "0.01"})
    server.call(
        "POST",
        "/api/2.0/mlflow/runs/log-metric",
        {"run_id": template, "key": "loss", "value": 0.5, "timestamp": 1_735_689_600_000, "step": 0},
    )
    server.call("POST", "/api/2.0/mlflow/runs/update", {"run_id": template, "status": "FINISHED"})
    started = time.monotonic()
    connection = sqlite3.connect(server.db, timeout=60)
    tables = [
        name
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if "run_uuid" in [column[1] for column in connection.execute(f"PRAGMA table_info('{name}')")]
    ]
    rows = {}
    for table in tables:
        cursor = connection.execute(f"SELECT * FROM '{table}' WHERE run_uuid = ?", (template,))
        rows[table] = ([column[0] for column in cursor.description], cursor.fetchall())
    state = 12345

    def unit():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (state >> 11) / float(1 << 53)

    for table, (columns, template_rows) in rows.items():
        if not template_rows:
            continue
        copies = []
        for index in range(RUNS):
            run_id = uuid.UUID(int=index + 1).hex
            loss = unit()
            for row in template_rows:
                row = dict(zip(columns, row))
                row["run_uuid"] = run_id
                if table == "runs":
                    row["name"] = f"run-{index}"
                    row["start_time"] = 1_735_689_600_000 + index * 60_000
                    row["end_time"] = row["start_time"] + 600_000
                    if "artifact_uri" in row and row["artifact_uri"]:
                        row["artifact_uri"] = row["artifact_uri"].replace(template, run_id)
                if table in ("metrics", "latest_metrics") and row.get("key") == "loss":
                    row["value"] = loss
                if table == "params" and row.get("key") == "lr":
                    row["value"] = f"{unit() * 0.1:.5f}"
                if table == "tags" and row.get("key") == "mlflow.runName":
                    row["value"] = f"run-{index}"
                copies.append(tuple(row[column] for column in columns))
        placeholders = ", ".join("?" for _ in columns)
        names = ", ".join(f'"{column}"' for column in columns)
        connection.executemany(f"INSERT INTO '{table}' ({names}) VALUES ({placeholders})", copies)
    connection.commit()
    connection.close()
    log(f"copied the template run {RUNS:,} times into {', '.join(rows)} in {time.monotonic() - started:.0f} s")


def main():
    folder = tempfile.mkdtemp(prefix="myelin-mlflow-")
    server = Server(folder)
    try:
        log("starting mlflow server")
        server.wait()
        experiment = server.call("POST", "/api/2.0/mlflow/experiments/create", {"name": "scale"})["experiment_id"]
        long_run = seed_long_run(server, experiment)
        seed_runs(server, experiment)

        def sampled():
            answer = server.call(
                "GET",
                f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={long_run}"
                "&metric_key=loss&max_results=1000",
            )
            if len(answer.get("metrics", [])) < 900:
                raise SystemExit(f"get-history-bulk-interval answered {len(answer.get('metrics', []))} points")

        def search():
            answer = server.call(
                "POST",
                "/api/2.0/mlflow/runs/search",
                {
                    "experiment_ids": [experiment],
                    "filter": "metrics.loss < 0.5",
                    "max_results": 20,
                    "order_by": ["attributes.start_time DESC"],
                },
            )
            if len(answer.get("runs", [])) != 20:
                raise SystemExit(f"runs/search answered {len(answer.get('runs', []))} runs")

        log("timing get-history-bulk-interval")
        sampled_1m = timed(sampled, 10)
        log("timing runs/search")
        search_loss = timed(search, 30)
        print(json.dumps({"version": "3.17.2", "sampled_1m": sampled_1m, "search_loss": search_loss}))
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
