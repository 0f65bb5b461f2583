"""Running a scenario sweep: cached, resumable, deterministic, on one of three back ends.

A sweep is a list of points (override dicts such as ``{"source.focal_spot_size": "30 um"}``)
and one ``compute(point) -> dict`` function. :func:`run_sweep` gives every point a stable
key, skips points whose result is already cached, runs the rest on an executor and caches
each result as JSON the moment it arrives, so a killed run resumes where it stopped.

Back ends (the ``--executor`` values, parsed by :func:`make_executor`):

``local`` (default)
    Local processes (:class:`ProcessExecutor`), started with ``spawn`` because JAX is not
    fork-safe; ``min(points, os.cpu_count())`` workers.
``serial``
    In this process, one point after the other (:class:`SerialExecutor`).
``dask``
    A :class:`distributed.LocalCluster` started and closed by the runner
    (:class:`DaskExecutor`).
``dask://HOST:PORT``
    An existing Dask cluster; its workers must be able to import this package.

Determinism: ``compute`` must be a pure function of its point (it may derive random keys
from the point and the scenario seed, e.g. with :func:`point_seed`), so every back end
returns the same results, and a resumed run the same as an uninterrupted one.
"""

from __future__ import annotations

import abc
import hashlib
import importlib.util
import json
import multiprocessing
import os
import pickle
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physics.errors import InputFileError, OptionError
from physics.version import code_version
from physics.imageio import ImageFileError, read_json, write_json

#: The ``--executor`` values :func:`make_executor` accepts.
EXECUTOR_SPECS = ("local", "serial", "dask", "dask://HOST:PORT")


class ExecutorSpecError(OptionError):
    """An ``--executor`` value that names no back end (or one that is not installed)."""


class SweepPointError(RuntimeError):
    """A point's computation failed; ``index`` and ``point`` name it, ``__cause__`` is why."""

    def __init__(self, index: int, total: int, point: dict, cause: BaseException):
        self.index, self.point = index, point
        super().__init__(f"sweep point {index + 1}/{total} {_canonical(point)} failed: "
                         f"{type(cause).__name__}: {cause}")


class _TaskFailed(Exception):
    """Raised by an executor after draining: the task at ``index`` raised ``cause``."""

    def __init__(self, index: int, cause: BaseException):
        super().__init__(index, cause)
        self.index, self.cause = index, cause


# --------------------------------------------------------------------------- executors


class Executor(abc.ABC):
    """Calls a function on every item and yields ``(index, result)`` as each one finishes.

    When an item raises, items not yet started are cancelled, the results of those already
    running are still yielded (so they can be cached), and then :class:`_TaskFailed` is
    raised for the first failure.
    """

    @abc.abstractmethod
    def map_unordered(self, fn: Callable, items: Sequence) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` in completion order."""

    @abc.abstractmethod
    def describe(self, n_items: int) -> str:
        """A few words for the progress bar, e.g. ``"2 local processes"``."""


@dataclass(frozen=True)
class SerialExecutor(Executor):
    """Runs every item in this process, in order (debugging, profiling, tiny sweeps)."""

    def map_unordered(self, fn, items):
        for index, item in enumerate(items):
            try:
                result = fn(item)
            except Exception as exc:
                raise _TaskFailed(index, exc) from exc
            yield index, result

    def describe(self, n_items):
        return "serial"


@dataclass(frozen=True)
class ProcessExecutor(Executor):
    """Local worker processes started with ``spawn`` (JAX is not fork-safe).

    Parameters
    ----------
    max_workers : int, optional
        Upper bound on workers; the default is ``os.cpu_count()``. Never more workers
        than items.
    """

    max_workers: int | None = None

    def __post_init__(self):
        if self.max_workers is not None and (not isinstance(self.max_workers, int) or self.max_workers < 1):
            raise ExecutorSpecError(f"max_workers: expected a positive integer, got {self.max_workers!r}")

    def workers(self, n_items: int) -> int:
        return max(1, min(n_items, self.max_workers or os.cpu_count() or 1))

    def map_unordered(self, fn, items):
        pool = ProcessPoolExecutor(max_workers=self.workers(len(items)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))
        try:
            futures = {pool.submit(fn, item): index for index, item in enumerate(items)}
            failure = None
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is None:
                    yield futures[future], future.result()
                elif failure is None:
                    failure = _TaskFailed(futures[future], exc)
                    for other in futures:
                        other.cancel()  # only those not yet started; running ones finish
            if failure is not None:
                raise failure from failure.cause
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def describe(self, n_items):
        n = self.workers(n_items)
        return f"{n} local process{'es' if n > 1 else ''}"


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the runner dies (SIGKILL, out of memory), instead of
    lingering with JAX loaded; a re-run starts fresh workers and resumes from the cache."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@dataclass(frozen=True)
class DaskExecutor(Executor):
    """Dask back end: a ``LocalCluster`` started and closed here, or an existing cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``"tcp://host:port"``) of an existing cluster. None starts a
        :class:`distributed.LocalCluster` for the sweep and closes it afterwards.
    n_workers : int, optional
        Workers of the local cluster (default ``min(items, os.cpu_count())``), one
        thread each so that every worker holds one point, as the local back end does.
    """

    address: str | None = None
    n_workers: int | None = None

    def map_unordered(self, fn, items):
        import logging

        import distributed

        cluster = None
        if self.address is None:
            n = max(1, min(len(items), self.n_workers or os.cpu_count() or 1))
            # ":0": any free port for the scheduler's HTTP server, as several may run at once.
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster if cluster is not None else self.address) as client:
                # pure=False: a task's identity is its index here, never a hash of its input.
                futures = client.map(fn, list(items), pure=False)
                index_of = {future.key: index for index, future in enumerate(futures)}
                failure = None
                for future in distributed.as_completed(futures):
                    if future.status == "cancelled":
                        continue
                    if future.status == "error":
                        if failure is None:
                            exc = future.exception()
                            failure = _TaskFailed(index_of[future.key], exc)
                            client.cancel([f for f in futures if f.status == "pending"])
                        continue
                    yield index_of[future.key], future.result()
                if failure is not None:
                    raise failure from failure.cause
        finally:
            if cluster is not None:
                cluster.close()

    def describe(self, n_items):
        return f"Dask cluster at {self.address}" if self.address else "Dask local cluster"


def make_executor(spec: str | None) -> Executor:
    """The executor an ``--executor`` value names.

    Parameters
    ----------
    spec : str or None
        ``"local"`` (also for None), ``"serial"``, ``"dask"`` or ``"dask://HOST:PORT"``.

    Raises
    ------
    ExecutorSpecError
        For any other value, a malformed address, or Dask back ends without Dask installed.
    """
    if spec is None or spec == "local":
        return ProcessExecutor()
    if not isinstance(spec, str):
        raise ExecutorSpecError(f"--executor: expected a string, got {spec!r}")
    if spec == "serial":
        return SerialExecutor()
    if spec == "dask" or spec.startswith("dask://"):
        if importlib.util.find_spec("distributed") is None:
            raise ExecutorSpecError(f"--executor {spec}: Dask is not installed; "
                                    f"pip install 'xray-lens-twin[dask]'")
        if spec == "dask":
            return DaskExecutor()
        match = re.fullmatch(r"dask://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})", spec)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ExecutorSpecError(f"--executor: {spec!r} is not a Dask scheduler address; "
                                    f"write dask://HOST:PORT, e.g. dask://10.0.0.5:8786")
        return DaskExecutor(address=f"tcp://{match.group(1)}:{match.group(2)}")
    raise ExecutorSpecError(f"--executor: {spec!r} is not one of {', '.join(EXECUTOR_SPECS)}")


# --------------------------------------------------------------------------- the runner


def point_key(point: dict, *, seed: int, compute: Callable | None = None,
              version: str | None = None) -> str:
    """The cache key of a point: SHA-256 of canonical JSON of (point, seed, code version),
    plus the pickled ``compute`` (its qualified name and any bound arguments, such as the
    base scenario of a ``functools.partial``), so changing anything that is not swept
    also changes the key. Bind plain data (dicts, lists, numbers, strings): a set pickles
    in a per-process order and would only ever miss the cache."""
    digest = hashlib.sha256(_canonical({"point": point, "seed": seed,
                                        "version": code_version() if version is None else version}).encode())
    if compute is not None:
        digest.update(pickle.dumps(compute, protocol=4))
    return digest.hexdigest()


def point_seed(seed: int, point: dict) -> int:
    """A 32-bit seed derived only from ``(seed, point)``, for per-point random streams."""
    return int(hashlib.sha256(_canonical({"point": point, "seed": seed}).encode()).hexdigest()[:8], 16)


def run_sweep(points: list[dict], compute: Callable[[dict], dict], *, cache_dir: Path,
              executor: Executor | str | None = None, progress: bool = True, seed: int,
              version: str | None = None) -> list[dict]:
    """Compute every point (reusing cached results) and return the results in point order.

    Parameters
    ----------
    points : list of dict
        Override dicts with JSON-serialisable values (as :meth:`Scenario.points` returns).
    compute : callable
        ``compute(point) -> dict`` of JSON-serialisable values. Must be picklable (a
        top-level function or a ``functools.partial`` of one) and pure: its randomness
        derives only from the point and the seed it is bound to.
    cache_dir : Path
        Folder holding one ``<key>.json`` per finished point (created when missing).
    executor : Executor or str, optional
        An :class:`Executor` or an ``--executor`` value; default local processes.
    progress : bool
        Show a progress bar with done/total.
    seed : int
        The scenario seed, part of every key.
    version : str, optional
        Code version for the keys; default :func:`code_version`.

    Returns
    -------
    list of dict
        ``results[i]`` for ``points[i]``, as read back from JSON (identical whether
        computed now, earlier, serially or in parallel).

    Raises
    ------
    ValueError
        Bad points, seed, compute or executor spec (before anything runs).
    SweepPointError
        A point's computation failed; points that finished are cached.
    """
    from twin.console import progress as progress_bar

    executor = executor if isinstance(executor, Executor) else make_executor(executor)
    _check_inputs(points, compute, seed)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)

    keys = [point_key(p, seed=seed, compute=compute, version=version) for p in points]
    results: dict[str, dict] = {}
    for key, point in zip(keys, points):
        cached = _read_cached(cache_dir / f"{key}.json", point)
        if cached is not None:
            results[key] = cached
    todo = list(dict.fromkeys(k for k in keys if k not in results))  # unique, in point order
    todo_points = [points[keys.index(k)] for k in todo]

    description = f"sweep of {len(points)} points"
    if todo:
        description += f" on {executor.describe(len(todo))}"
    with progress_bar(description, total=len(points), enabled=progress) as advance:
        if len(points) > len(todo):
            advance(len(points) - sum(keys.count(k) for k in todo), info="cached")
        try:
            for index, result in executor.map_unordered(compute, todo_points):
                results[todo[index]] = _store(cache_dir, todo[index], todo_points[index], seed, result)
                advance(keys.count(todo[index]), info=_label(todo_points[index]))
        except _TaskFailed as failed:
            point = todo_points[failed.index]
            raise SweepPointError(points.index(point), len(points), point, failed.cause) from failed.cause
    return [results[k] for k in keys]


def _check_inputs(points, compute, seed) -> None:
    if not isinstance(points, list) or not points:
        raise ValueError(f"points: expected a non-empty list of override dicts, got {points!r}")
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise ValueError(f"points[{i}]: expected a dict of overrides, got {point!r}")
        try:
            _canonical(point)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"points[{i}] = {point!r}: not JSON-serialisable ({exc})") from None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    if not callable(compute):
        raise ValueError(f"compute: expected a function, got {compute!r}")
    try:
        pickle.dumps(compute, protocol=4)
    except Exception as exc:  # pickling raises PicklingError, AttributeError, TypeError...
        raise ValueError(f"compute: {compute!r} cannot be pickled for worker processes; use a "
                         f"top-level function or a functools.partial of one ({exc})") from None


def _read_cached(path: Path, point: dict) -> dict | None:
    if not path.exists():
        return None
    try:
        entry = read_json(path)
    except ImageFileError as exc:
        raise InputFileError(f"sweep cache {path}: unreadable ({exc}); delete it to recompute "
                         f"the point") from None
    if not isinstance(entry, dict) or entry.get("point") != point or "result" not in entry:
        raise InputFileError(f"sweep cache {path}: holds another point than {_canonical(point)}; "
                         f"delete it to recompute")
    return entry["result"]


def _store(cache_dir: Path, key: str, point: dict, seed: int, result: Any) -> dict:
    """Cache a result atomically and return it as it reads back from JSON."""
    if not isinstance(result, dict):
        raise ValueError(f"compute returned {type(result).__name__} for point {_canonical(point)}; "
                         f"expected a dict")
    entry = {"point": point, "seed": seed, "result": result}
    path = write_json(cache_dir / f"{key}.json", entry)
    return read_json(path)["result"]


def _label(point: dict, width: int = 32) -> str:
    """A short label for the progress bar: ``focal_spot_size=30 um na=0.3``."""
    text = " ".join(f"{k.rpartition('.')[2]}={v}" for k, v in point.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, no NaN (so equal points hash equally)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_reject)


def _reject(obj):
    raise TypeError(f"{type(obj).__name__} is not JSON")
