"""Times Polyaxon 2.18's own pipeline on every case of a corpus, in one process.

Run by `cargo xtask bench` with the oracle's venv. For each case it runs the oracle's
`run_all` (Polyaxon's check, compile and, with --upto convert, convert) --repeat times after
one warm-up, and prints one JSON object: {case name: median seconds}. Imports and the agent
set-up happen once, before any timing.
"""
import argparse
import json
import os
import statistics
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("oracle_dir")
    parser.add_argument("cases_dir")
    parser.add_argument("--upto", default="compile", choices=["check", "compile", "convert"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    sys.path.insert(0, args.oracle_dir)
    import polyaxon_oracle  # noqa: E402  (its import sets Polyaxon up offline)

    polyaxon_oracle.setup_agent(os.path.join(args.oracle_dir, "agent.yaml"))
    os.chdir(args.cases_dir)
    medians = {}
    for file_name in sorted(os.listdir(".")):
        if not file_name.endswith(".yaml"):
            continue
        name = file_name[: -len(".yaml")]
        params = []
        if os.path.exists(name + ".params"):
            with open(name + ".params") as handle:
                params = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
        polyaxon_oracle.run_all(file_name, params, upto=args.upto)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            polyaxon_oracle.run_all(file_name, params, upto=args.upto)
            times.append(time.perf_counter() - started)
        medians[name] = statistics.median(times)
    json.dump(medians, sys.stdout)


if __name__ == "__main__":
    main()
