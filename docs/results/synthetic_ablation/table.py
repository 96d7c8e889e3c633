"""Print the synthetic ablation table (issue 13, docs/results.md) from the benchmark JSON files beside this script.

Files: ``ROW-sSEED_SPLIT.json`` (``rgbt-tracker benchmark --json`` of the row's last epoch) with SPLIT ``synth_val``
or ``synth_bench``, and ``teacher_SPLIT.json``. Per row: PR / NPR / SR as the mean over its seeds and, with two
or more seeds, the sample standard deviation and the range. Usage: ``python table.py [synth_val|synth_bench]``.
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROWS = (  # CMD Table 1, top to bottom
    ("cmd-synthetic-origin", "Student-Origin (L_original)"),
    ("cmd-synthetic-scfd", "+SCFD"),
    ("cmd-synthetic-scfd-alpha0.1", "+SCFD with alpha 0.1 (ours, not in Table 1)"),
    ("cmd-synthetic-scfd-mpsd", "+SCFD+MPSD"),
    ("cmd-synthetic", "+SCFD+MPSD+HFRD (full CMD)"),
    ("teacher", "teacher-tiny"),
)


def cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {statistics.stdev(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main(split: str) -> None:
    here = Path(__file__).resolve().parent
    scores: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(here.glob(f"*_{split}.json")):
        row = path.name[: -len(f"_{split}.json")].rsplit("-s", 1)[0]
        scores[row].append(json.loads(path.read_text()))
    print(f"| row ({split}) | seeds | PR | NPR | SR |")
    print("|---|---|---|---|---|")
    for row, title in ROWS:
        if row in scores:
            runs = scores[row]
            print(f"| {title} | {len(runs)} | " + " | ".join(cell([r[k] for r in runs]) for k in ("PR", "NPR", "SR"))
                  + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "synth_bench")
