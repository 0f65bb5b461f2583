"""Measured peak memory of `twin simulate` against the budget's estimate (twin.sizing).

Run: ``python bench/memory_estimate.py`` (about 2-4 min on 2 cores). For each case, a
child process simulates the scenario; its peak resident memory minus that of a child
that only imports the same modules is the work's peak, compared with the estimate that
the budget checks. A ratio (measured / estimate) <= 1 means the budget errs on the safe side.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "64^2 ROI, oversample 2, 1 view, edge (fixed costs)": "[camera]\nroi_rows = 64\nroi_cols = 64\n"
                                                         "[geometry]\nn_views = 1\n"
                                                         "[object]\nphantom = \"edge\"\n",
    "768^2 ROI, oversample 2, 5 views, chart": "[camera]\nroi_rows = 768\nroi_cols = 768\n"
                                               "[geometry]\nn_views = 5\n[object]\nphantom = \"chart\"\n",
    "384^2 ROI, oversample 3, 9 views, chart_stack": "[camera]\nroi_rows = 384\nroi_cols = 384\n"
                                                     "[acquisition]\noversample = 3\n"
                                                     "[geometry]\nn_views = 9\n",
}
IMPORTS = "import jax.numpy as jnp, twin.simulate, twin.cli; jnp.zeros(3).block_until_ready()"


def child_peak_mib(code: str) -> float:
    """Peak RSS (MiB) of a fresh Python child running ``code`` (it reports its own peak)."""
    report = "\nimport resource\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", code + report], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1].split()[1]) / 1024.0


def main() -> None:
    from twin import sizing
    from twin.scenario import load_scenario

    base = child_peak_mib(IMPORTS)
    print(f"imports only: {base:.0f} MiB peak (not counted by the estimates)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in CASES.items():
            path = Path(tmp) / "s.toml"
            path.write_text("[scenario]\nname = \"bench\"\n" + text)
            est = sizing.simulation(load_scenario(path).values).total / 2**20
            argv = ["simulate", str(path), "--out", tmp + "/out", "--no-progress", "--json"]
            code = f"{IMPORTS}\nassert twin.cli.main({argv!r}) == 0"
            peak = child_peak_mib(code) - base
            rows.append((name, est, peak))
    for name, est, peak in rows:
        print(f"{name}: estimate {est:.0f} MiB, measured {peak:.0f} MiB, ratio {peak / est:.2f}")


if __name__ == "__main__":
    main()
