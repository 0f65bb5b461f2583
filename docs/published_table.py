"""Print the README's headline table from a published-system run's results.json.

Usage: ``python docs/published_table.py runs/published_system/results.json``
"""

from __future__ import annotations

import json
import sys

LINES = {"vertical": "across the arc", "horizontal": "along the arc"}


def _value(x):
    return x["value"] if isinstance(x, dict) and "value" in x else x


def table(results: dict) -> str:
    seeds = _value(results["seeds"])
    rows = ["| line width | lines | resolved before (seeds) | dip before | resolved after (seeds) | dip after |",
            "|---|---|---|---|---|---|"]
    for width in sorted(results["chart"]["before"], key=float):
        for orientation, label in LINES.items():
            cells = [f"{float(width):g} um", label]
            for stage in ("before", "after"):
                entry = results["chart"][stage][width][orientation]
                k = round(_value(entry["resolved_fraction"]) * seeds)
                call = "**yes**" if entry["resolved"] else "no"
                cells += [f"{call} ({k}/{seeds})",
                          f"{_value(entry['dip_mean']):.2f} +- {_value(entry['dip_sd']):.2f}"]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "runs/published_system/results.json") as f:
        print(table(json.load(f)))
