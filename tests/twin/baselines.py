"""Comparison of a study's quick run with its stored baseline (issue 11); the tests are in
each study's own module (so the session's quick run is computed on one xdist worker).

The studies give the numbers they gave before the studies were refactored.

``tests/data/study_baselines/<scenario>.json`` holds every number of each shipped study's
``twin run --quick`` (results.json without the report's text), produced by the code
before the refactor (see the README there). Each test takes the quick run of a few
points of the sweep (the extremes, so the points' place in the sweep is kept; fixtures in
conftest.py, shared with the study tests) and compares every number the run reports
with the stored one.

Tolerances: numbers of noise-free computations (MTFs, PSFs, photon budgets, depth
profiles of noiseless views) agree to ``TIGHT`` relative (float32 JAX on another
build); the smallest resolved group of a simulated noisy chart may move by one group
(the noise draw changes when the frame model does), ``CHART_STEP_UM``.
"""

from __future__ import annotations

import math
from pathlib import Path


BASELINES = Path(__file__).resolve().parents[1] / "data" / "study_baselines"
TIGHT = 1e-4
#: One step of the geometric study's chart groups (0.5, 1, 1.5, 2, 3 um).
CHART_STEP_UM = 1.0
NOISY_LEAVES = ("smallest_group_sim",)
SWEEP_DEPENDENT = ("best_for_target",)
#: Numbers the refactor changed on purpose, each checked against the physics of the change
#: in the test that removes them: the geometric study's flat panel is now the Detector
#: (physics.detector.FlatPanel) with its Poisson gain stage and a-Si electronic noise,
#: where the old study took it as quantum-limited.
GEOMETRIC_BY_DESIGN = ("dqe0", "exposure_for_snr_s")
ADDED = (("geometric", "electrons_per_quantum"),)


def _leaves(tree, prefix=()):
    """``{path: value}`` of every number/bool/None leaf ({"value", "unit"} dicts are one leaf)."""
    if isinstance(tree, dict) and set(tree) == {"value", "unit"}:
        yield prefix, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, prefix + (k,))
    else:
        yield prefix, tree


def _value(leaf):
    return leaf["value"] if isinstance(leaf, dict) else leaf


def compare(run: dict, baseline: dict) -> int:
    """Assert every number of ``run`` (results.json) equals the baseline's; returns how many.

    Skipped: the report's own content, and tables that depend on which points were swept
    (:data:`SWEEP_DEPENDENT`: a reduced sweep has other "best" points)."""
    stored = dict(_leaves({k: v for k, v in baseline.items() if k != "report"}))
    compared = 0
    for path, leaf in _leaves({k: v for k, v in run.items() if k not in ("report", *SWEEP_DEPENDENT)}):
        where = ".".join(path)
        if path in ADDED:
            continue
        assert path in stored, f"{where}: not in the baseline (renamed or new number)"
        old = stored[path]
        if isinstance(leaf, dict):
            assert isinstance(old, dict) and old["unit"] == leaf["unit"], f"{where}: unit changed"
        new, ref = _value(leaf), _value(old)
        if new is None or ref is None or isinstance(ref, (bool, str)):
            assert new == ref, f"{where}: {new!r} != baseline {ref!r}"
        elif path[-1] in NOISY_LEAVES:
            assert abs(new - ref) <= CHART_STEP_UM, f"{where}: {new} vs baseline {ref}"
        else:
            assert math.isclose(new, ref, rel_tol=TIGHT, abs_tol=1e-12), f"{where}: {new!r} vs baseline {ref!r}"
        compared += 1
    return compared
