"""The long hostile-input fuzzing campaign (the bounded version runs in the test suite, tests/fuzz).

Same targets and property as ``tests/fuzz/targets.py``: image bytes (header scan, OpenCV
decode, decode check, TF parity of accepted files), LFW pairs files, protocol CSVs, ``.bin``
pickles, damaged packed TFRecord datasets and config overrides on the engine's default
config. Every input must either work or raise a clear error naming the file or key; never
a native crash, a hang, a bare IndexError/struct.error/StopIteration/UnicodeDecodeError or a
MemoryError.

Each target gets an equal share of ``--minutes`` (or stops at ``--max_examples``), spent in
rounds of hypothesis runs with seeds 0, 1, 2, ... (not derandomized; a round's seed makes it
reproducible). A failure is shrunk by hypothesis and recorded with its message; the
campaign goes on with the next round. Prints per target the inputs tried, seconds and
failures; writes a JSON and a PNG bar chart (inputs per target).

  nice -n 5 python benchmarks/fuzz_inputs.py --minutes=12
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hypothesis  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.fuzz import targets  # noqa: E402


def without_scratch_dir(text: str) -> str:
    """A failure's text with the machine's scratch folder (the targets' input files) written as ``<scratch>``."""
    return text.replace(str(targets.tmp_dir()), "<scratch>")


def run_target(name: str, seconds: float, max_examples: int, round_size: int, first_seed: int) -> dict:
    counter = {"inputs": 0}
    outcomes: Counter = Counter()
    failures = []
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < seconds and counter["inputs"] < max_examples:
        remaining = max_examples - counter["inputs"]

        @seed(first_seed + rounds)
        @settings(max_examples=min(round_size, remaining), database=None, deadline=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), print_blob=True)
        @given(targets.STRATEGIES[name])
        def one(example):
            counter["inputs"] += 1
            outcomes[str(targets.RUNNERS[name](example))] += 1

        try:
            one()
        except Exception as e:  # noqa: BLE001 - a property violation (shrunk); record and go on
            text = without_scratch_dir(str(e))
            first = text.splitlines()[0][:300] if text else type(e).__name__
            notes = without_scratch_dir(" | ".join(getattr(e, "__notes__", [])))[:600]
            failures.append({"round_seed": first_seed + rounds, "error": f"{type(e).__name__}: {first}", "example": notes,
                             "detail": text[:1500]})
            print(f"  [{name}] FAILURE (seed {first_seed + rounds}): {type(e).__name__}: {first}", flush=True)
        rounds += 1
    elapsed = time.perf_counter() - start
    return {"inputs": counter["inputs"], "seconds": round(elapsed, 1), "rounds": rounds,
            "inputs_per_second": round(counter["inputs"] / max(elapsed, 1e-9), 1),
            "outcomes": dict(outcomes), "failures": failures,
            "distinct_failures": len({f["error"] for f in failures})}


def plot(results: dict, path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    inputs = [results[n]["inputs"] for n in names]
    fails = [results[n]["distinct_failures"] for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=120)
    bars = ax.bar(names, inputs, color=["#c0392b" if f else "#2e86c1" for f in fails])
    for bar, n, f in zip(bars, inputs, fails):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{n:,}" + (f"\n{f} failing" if f else ""),
                ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("inputs tried (log)")
    ax.set_title(f"lrfr_tf hostile-input fuzzing: {sum(inputs):,} inputs in {minutes:.0f} min "
                 f"({sum(fails)} distinct failure(s))", fontsize=9)
    ax.margins(y=0.25)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="total wall time, split equally between targets")
    parser.add_argument("--max_examples", type=int, default=1_000_000, help="most inputs per target")
    parser.add_argument("--targets", default=",".join(targets.RUNNERS), help="comma-separated subset")
    parser.add_argument("--round_size", type=int, default=500, help="inputs per hypothesis run (one seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first round")
    parser.add_argument("--json", default=str(REPO / "results" / "benchmarks" / "fuzz_inputs.json"))
    parser.add_argument("--png", default=str(REPO / "results" / "benchmarks" / "fuzz_inputs.png"))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in targets.RUNNERS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(targets.RUNNERS)}")
    share = args.minutes * 60 / len(names)
    results = {}
    t0 = time.perf_counter()
    for name in names:
        print(f"{name}: up to {share:.0f} s / {args.max_examples} inputs", flush=True)
        results[name] = run_target(name, share, args.max_examples, args.round_size, args.seed)
        r = results[name]
        print(f"{name}: {r['inputs']} inputs in {r['seconds']} s ({r['inputs_per_second']}/s), "
              f"{r['distinct_failures']} distinct failure(s), outcomes {r['outcomes']}", flush=True)
    total = time.perf_counter() - t0
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    report = {
        "benchmark": "fuzz_inputs",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "command": "python benchmarks/fuzz_inputs.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "minutes_requested": args.minutes,
        "seconds_total": round(total, 1),
        "hypothesis": hypothesis.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "per_example_timeout_s": targets.PER_EXAMPLE_SECONDS,
        "total_inputs": sum(r["inputs"] for r in results.values()),
        "targets": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    plot(results, Path(args.png), total / 60)
    print(f"total: {report['total_inputs']} inputs in {total:.0f} s; wrote {args.json} and {args.png}")
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
