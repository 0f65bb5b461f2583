"""Assemble README.md from the part fragments in docs/readme/ (run: python docs/build_readme.py).

Each part keeps its own section in docs/readme/<part>.md beside the code it documents;
this script concatenates them in reading order, demotes a fragment's headings so each
part is a level-2 section, and rewrites relative image links to the repository root.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAGMENTS = ROOT / "docs" / "readme"
ORDER = [
    "00_header.md",
    "10_results.md",
    "10_chain.md",
    "physics_object.md",
    "physics_detector.md",
    "measure.md",
    "recon.md",
    "learn.md",
    "sweep.md",
    "study_published.md",
    "study_geometric_vs_optical.md",
    "study_scintillator.md",
    "study_tomosynthesis.md",
    "study_kvp_and_filtration.md",
    "calibrate_optimize.md",
    "robustness.md",
    "benchmarks.md",
]


def _demote(text: str) -> str:
    """Shift headings so the fragment's first heading is level 2 (the header keeps level 1)."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", text, flags=re.M)]
    if not levels:
        return text
    shift = 2 - levels[0]
    lines = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"^(#+) ", line)
        if m and not in_code and shift:
            line = "#" * max(1, len(m.group(1)) + shift) + line[len(m.group(1)):]
        lines.append(line)
    return "\n".join(lines)


def _relink(text: str) -> str:
    """Image links relative to a fragment become relative to the repository root."""
    return re.sub(r"!\[([^\]]*)\]\((?!https?://|/|docs/)([^)]+)\)", r"![\1](docs/readme/\2)", text)


def build() -> str:
    parts = []
    for name in ORDER:
        path = FRAGMENTS / name
        if not path.exists():
            continue
        text = path.read_text().strip()
        parts.append(text if name.startswith("00_") else _relink(_demote(text)))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    out = ROOT / "README.md"
    tmp = out.with_suffix(".md.part")
    tmp.write_text(build())
    tmp.replace(out)
    print(f"wrote {out}")
