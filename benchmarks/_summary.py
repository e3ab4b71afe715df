"""One table of every benchmark's latest results: seconds per image per stage, the previous run's, their
ratio and the load average. Run by `make bench` after the benchmarks; writes benchmarks/results/SUMMARY.md."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, _fmt, _write  # noqa: E402


def main():
    lines = [
        "# Benchmarks: seconds per image per stage",
        "",
        "Each row: the latest run, the previous run of the same benchmark, now / previous (below 1: faster), and the "
        "1-minute load average at the end of the latest run (the machine is shared: compare loads before ratios). "
        "Details: the <benchmark>.md next to this file.",
        "",
        "| benchmark | stage | s per image | previous | now / previous | load | date |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in sorted(RESULTS.glob("*.json")):
        rec = json.loads(p.read_text())
        if "benchmark" not in rec:
            lines.append(f"| {p.stem} | (old format: rerun the benchmark) | - | - | - | - | - |")
            continue
        prev = (rec.get("previous") or {}).get("per_image_s") or {}
        for k, v in rec["per_image_s"].items():
            r = rec["ratio_to_previous"].get(k)
            lines.append(
                f"| {rec['benchmark']} | {k} | {_fmt(v)} | {_fmt(prev[k]) if prev.get(k) else '-'} | "
                f"{f'{r:.2f}' if r else '-'} | {rec['load_1min']['end']} | {rec['date'][:10]} |"
            )
    _write(RESULTS / "SUMMARY.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
