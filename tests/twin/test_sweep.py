"""Sweep runner: resumes after an interruption, same results on every back end, clear errors."""

import functools
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from twin.sweep import (DaskExecutor, ExecutorSpecError, ProcessExecutor, SerialExecutor,
                        SweepPointError, make_executor, point_key, point_seed, run_sweep)

SEED = 7
POINTS = [{"source.focal_spot_size": f"{s} um", "optics.na": na} for s in (30, 55) for na in (0.3, 0.4)]


# Compute functions live at module level: worker processes import them by name.

def noisy_compute(point: dict, *, seed: int = SEED) -> dict:
    """A stand-in for a simulation: deterministic arithmetic plus noise keyed by (seed, point)."""
    size = float(point["source.focal_spot_size"].split()[0])
    rng = np.random.default_rng(point_seed(seed, point))
    return {"blur": {"value": size * point["optics.na"], "unit": "um"},
            "noise": rng.normal(size=4).astype(np.float32)}  # float32 array: JSON turns it into floats


def counting_compute(point: dict, *, marker_dir: str, fail_on: str | None = None) -> dict:
    """Leaves one marker file per call; fails once on the point whose size is ``fail_on``."""
    markers = Path(marker_dir)
    size = point["source.focal_spot_size"]
    (markers / f"call {size} {uuid.uuid4().hex}").touch()
    if size == fail_on and not (markers / "failed once").exists():
        (markers / "failed once").touch()
        raise RuntimeError("simulated interruption")
    return noisy_compute(point)


def calls(marker_dir: Path, size: str) -> int:
    return len(list(marker_dir.glob(f"call {size} *")))


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_interrupted_sweep_resumes_without_recomputing_finished_points(tmp_path, executor):
    markers = tmp_path / "markers"
    markers.mkdir()
    points = [{"source.focal_spot_size": "30 um", "optics.na": 0.3},
              {"source.focal_spot_size": "55 um", "optics.na": 0.3}]
    compute = functools.partial(counting_compute, marker_dir=str(markers), fail_on="55 um")
    cache = tmp_path / "cache"

    with pytest.raises(SweepPointError, match=r"point 2/2 .*55 um.* simulated interruption") as info:
        run_sweep(points, compute, cache_dir=cache, executor=executor, progress=False, seed=SEED)
    assert info.value.point == points[1] and info.value.index == 1
    assert calls(markers, "30 um") == 1 and calls(markers, "55 um") == 1
    assert len(list(cache.glob("*.json"))) == 1  # the finished point, nothing half-written
    assert not list(cache.glob(".*"))

    results = run_sweep(points, compute, cache_dir=cache, executor=executor, progress=False, seed=SEED)
    assert calls(markers, "30 um") == 1, "the finished point was computed again"
    assert calls(markers, "55 um") == 2
    assert results == [json.loads(json.dumps(noisy_compute(p), default=np.ndarray.tolist)) for p in points]

    again = run_sweep(points, compute, cache_dir=cache, executor=executor, progress=False, seed=SEED)
    assert again == results and calls(markers, "30 um") == 1 and calls(markers, "55 um") == 2


def test_local_processes_and_serial_give_identical_results(tmp_path):
    serial = run_sweep(POINTS, noisy_compute, cache_dir=tmp_path / "s", executor=SerialExecutor(),
                       progress=False, seed=SEED)
    parallel = run_sweep(POINTS, noisy_compute, cache_dir=tmp_path / "p",
                         executor=ProcessExecutor(max_workers=2), progress=False, seed=SEED)
    assert parallel == serial
    # Results come back in point order, and points differ (so order is actually tested).
    assert [r["blur"]["value"] for r in serial] == pytest.approx([30 * 0.3, 30 * 0.4, 55 * 0.3, 55 * 0.4])
    assert len({tuple(r["noise"]) for r in serial}) == len(POINTS)


def test_progress_bar_runs_and_counts_cached_points(tmp_path, capsys):
    run_sweep(POINTS[:2], noisy_compute, cache_dir=tmp_path, executor="serial", progress=True, seed=SEED)
    run_sweep(POINTS[:3], noisy_compute, cache_dir=tmp_path, executor="serial", progress=True, seed=SEED)
    out = capsys.readouterr().out
    assert "2/2" in out and "3/3" in out


def test_duplicate_points_are_computed_once(tmp_path):
    markers = tmp_path / "m"
    markers.mkdir()
    compute = functools.partial(counting_compute, marker_dir=str(markers))
    point = POINTS[0]
    results = run_sweep([point, dict(reversed(point.items()))], compute, cache_dir=tmp_path / "c",
                        executor="serial", progress=False, seed=SEED)
    assert results[0] == results[1]
    assert calls(markers, "30 um") == 1


def test_code_version_follows_the_source(tmp_path):
    from physics.version import code_version, source_digest

    (tmp_path / "physics").mkdir()
    module = tmp_path / "physics" / "chain.py"
    module.write_text("x = 1\n")
    before = source_digest(tmp_path)
    assert source_digest(tmp_path) == before
    module.write_text("x = 2\n")  # an edited file: cached points must not be reused
    assert source_digest(tmp_path) != before
    (tmp_path / "physics" / "chain.py").rename(tmp_path / "physics" / "camera.py")
    assert source_digest(tmp_path) not in (before,)
    assert code_version().endswith("+" + source_digest(Path(__file__).resolve().parents[2]))


def test_cache_key_covers_seed_version_and_bound_arguments(tmp_path):
    base = point_key(POINTS[0], seed=SEED, compute=noisy_compute, version="1")
    assert point_key(POINTS[0], seed=SEED + 1, compute=noisy_compute, version="1") != base
    assert point_key(POINTS[0], seed=SEED, compute=noisy_compute, version="2") != base
    other = functools.partial(noisy_compute, seed=SEED + 1)
    assert point_key(POINTS[0], seed=SEED, compute=other, version="1") != base
    # Another seed gives other noise, and another cache entry rather than the stale one.
    a = run_sweep(POINTS[:1], noisy_compute, cache_dir=tmp_path, executor="serial", progress=False, seed=1)
    b = run_sweep(POINTS[:1], other, cache_dir=tmp_path, executor="serial", progress=False, seed=1)
    assert a[0]["noise"] != b[0]["noise"]


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8),
                       st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                                 st.text(max_size=8)), min_size=1, max_size=5),
       st.integers(0, 2**31))
def test_keys_and_seeds_ignore_key_order(point, seed):
    reordered = dict(reversed(list(point.items())))
    assert point_key(point, seed=seed, version="v") == point_key(reordered, seed=seed, version="v")
    assert point_seed(seed, point) == point_seed(seed, reordered)
    assert 0 <= point_seed(seed, point) < 2**32


@pytest.mark.parametrize("spec, message", [
    ("threads", r"'threads' is not one of local, serial, dask, dask://HOST:PORT"),
    ("dask:/host:8786", r"is not one of"),
    ("dask://host", r"'dask://host' is not a Dask scheduler address; write dask://HOST:PORT"),
    ("dask://host:99999", r"not a Dask scheduler address"),
    ("", r"'' is not one of"),
])
def test_bad_executor_spec_is_named(spec, message):
    with pytest.raises(ExecutorSpecError, match=message):
        make_executor(spec)


def test_executor_specs_map_to_back_ends():
    assert isinstance(make_executor(None), ProcessExecutor)
    assert isinstance(make_executor("local"), ProcessExecutor)
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert make_executor("dask") == DaskExecutor()
    assert make_executor("dask://10.0.0.5:8786") == DaskExecutor(address="tcp://10.0.0.5:8786")
    assert ProcessExecutor().workers(1) == 1


def test_bad_inputs_fail_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="cannot be pickled"):
        run_sweep(POINTS, lambda p: {}, cache_dir=tmp_path, executor="serial", progress=False, seed=1)
    with pytest.raises(ValueError, match=r"points\[1\].*not JSON"):
        run_sweep([{}, {"a": object()}], noisy_compute, cache_dir=tmp_path, progress=False, seed=1)
    with pytest.raises(ValueError, match="seed: expected an integer"):
        run_sweep(POINTS, noisy_compute, cache_dir=tmp_path, progress=False, seed=1.5)
    with pytest.raises(ValueError, match="non-empty list"):
        run_sweep([], noisy_compute, cache_dir=tmp_path, progress=False, seed=1)
    assert not list(tmp_path.iterdir())


def test_foreign_cache_entry_is_refused(tmp_path):
    key = point_key(POINTS[0], seed=SEED, compute=noisy_compute)
    (tmp_path / f"{key}.json").write_text(json.dumps({"point": POINTS[1], "result": {}}))
    with pytest.raises(ValueError, match="holds another point"):
        run_sweep(POINTS[:1], noisy_compute, cache_dir=tmp_path, executor="serial", progress=False, seed=SEED)


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    yield cluster
    cluster.close()


def test_dask_cluster_gives_the_serial_results_and_resumes(tmp_path, dask_cluster):
    address = dask_cluster.scheduler_address.removeprefix("tcp://")
    executor = make_executor(f"dask://{address}")
    serial = run_sweep(POINTS, noisy_compute, cache_dir=tmp_path / "s", executor="serial",
                       progress=False, seed=SEED)
    assert run_sweep(POINTS, noisy_compute, cache_dir=tmp_path / "d", executor=executor,
                     progress=False, seed=SEED) == serial

    markers = tmp_path / "markers"
    markers.mkdir()
    compute = functools.partial(counting_compute, marker_dir=str(markers), fail_on="55 um")
    points = POINTS[::2]  # 30 um and 55 um
    with pytest.raises(SweepPointError, match=r"55 um.*simulated interruption"):
        run_sweep(points, compute, cache_dir=tmp_path / "r", executor=executor, progress=False, seed=SEED)
    assert calls(markers, "30 um") == 1
    assert run_sweep(points, compute, cache_dir=tmp_path / "r", executor=executor, progress=False,
                     seed=SEED) == serial[::2]
    assert calls(markers, "30 um") == 1 and calls(markers, "55 um") == 2


def test_dask_local_cluster_started_by_the_runner(tmp_path):
    pytest.importorskip("distributed")
    serial = run_sweep(POINTS[:2], noisy_compute, cache_dir=tmp_path / "s", executor="serial",
                       progress=False, seed=SEED)
    assert run_sweep(POINTS[:2], noisy_compute, cache_dir=tmp_path / "d", executor="dask",
                     progress=False, seed=SEED) == serial


KILLED_RUN = """
import os, sys, time
from pathlib import Path
from twin.sweep import run_sweep

def slow(point):
    Path(point["markers"], f"call {point['i']} {os.getpid()}").touch()
    time.sleep(0.5)
    return {"i": point["i"]}

if __name__ == "__main__":
    results = run_sweep([{"i": i, "markers": sys.argv[2]} for i in range(8)], slow,
                        cache_dir=sys.argv[1], executor="local", progress=False, seed=0)
    assert results == [{"i": i} for i in range(8)]
"""


def test_killed_run_resumes_and_leaves_no_workers_behind(tmp_path):
    script, cache, markers = tmp_path / "killed_run.py", tmp_path / "cache", tmp_path / "markers"
    script.write_text(KILLED_RUN)
    markers.mkdir()
    command = [sys.executable, str(script), str(cache), str(markers)]
    run = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 60
        while not list(cache.glob("*.json")) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        run.kill()  # SIGKILL: no clean-up code runs in the runner
        run.wait()
    finished = {json.loads(p.read_text())["point"]["i"] for p in cache.glob("*.json")}
    assert 1 <= len(finished) < 8, "the kill should land mid-sweep"

    workers = {int(p.name.split()[2]) for p in markers.iterdir()}
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = [pid for pid in workers if _alive(pid)]
    for pid in orphans:  # do not leave them running when the assertion fails
        os.kill(pid, 9)
    assert not orphans, "workers outlived the killed runner"

    calls_before = {i: len(list(markers.glob(f"call {i} *"))) for i in range(8)}
    subprocess.run(command, check=True)
    for i in range(8):
        new_calls = len(list(markers.glob(f"call {i} *"))) - calls_before[i]
        assert new_calls == (0 if i in finished else 1), f"point {i}"
    assert len(list(cache.glob("*.json"))) == 8


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited; only its entry remains
        return stat.read().split(")")[-1].split()[0] != "Z"
