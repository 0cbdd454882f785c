"""How fast ``scrm --help`` answers, against the anchor of importing what it keeps lazy.

The anchor is what ``scrm --help`` would cost if the CLI imported the app, wechatpy and jieba
at start-up (as a naive CLI would). Both are timed in the same run, best and median of N
fresh interpreter starts, beside a bare ``python -c pass`` for the interpreter's own cost.

    .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (interpreter)": [sys.executable, "-c", "pass"],
    "scrm --help": [sys.executable, "-m", "scrm.cli", "--help"],
    "anchor: import app+wechatpy+jieba": [
        sys.executable,
        "-c",
        "import scrm.app, wechatpy, wechatpy.enterprise, jieba, sqlalchemy, rq",
    ],
}


def measure(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = {name: measure(cmd, args.runs) for name, cmd in CASES.items()}
    help_median = statistics.median(results["scrm --help"])
    print(f"{'case':<38} {'best ms':>8} {'median ms':>10} {'vs --help':>10}")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:<38} {min(times):>8.1f} {median:>10.1f} {median / help_median:>9.2f}x")
    anchor = statistics.median(results["anchor: import app+wechatpy+jieba"])
    print(f"\nscrm --help takes {help_median:.0f} ms, {anchor / help_median:.1f}x faster than the eager-import anchor ({anchor:.0f} ms); runs={args.runs}")


if __name__ == "__main__":
    main()
