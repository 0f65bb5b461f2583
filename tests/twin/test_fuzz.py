"""Fuzzing the ``twin`` CLI in-process: generated scenario files and corrupted input files.

Promise checked for every example: the command succeeds (exit 0) or fails with exactly one
line ``twin: error: ...`` and exit 2 - never a traceback (exit 1), never another exit
status - and the process's peak memory never grows past the budget given to the command
(plus a fixed allowance for the libraries' first-use caches).

Examples are few and derandomised (same inputs in every CI run) to keep the file near a
minute on 2 cores; the budgets are tiny so that refusals are fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import resource
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin.cli
from twin.schema import SCHEMA

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Budget handed to the fuzzed commands, and the allowance for one-off growth (jit caches,
#: codec tables) on top of it; a real over-allocation (e.g. 100000^2 pixels) is far beyond.
BUDGET = "32 MiB"
ALLOWANCE_MIB = 300


def cli(*args) -> tuple[int, str]:
    """Run twin in-process; returns (exit status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = twin.cli.main([str(a) for a in args])
    return code, err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert code in (0, 2), f"exit {code}:\n{err}"
    assert "Traceback" not in err, err
    if code == 2:
        lines = [line for line in err.strip().splitlines() if not line.startswith("twin: note:")]
        assert len(lines) == 1 and lines[0].startswith("twin: error: "), err


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- scenarios
UNITS = ["um", "mm", "m", "nm", "keV", "kV", "mA", "s", "deg", "kg", "", "1/keV", "W/um", "GB",
         "furlong", "um um", "%"]
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.integers(min_value=-10**30, max_value=10**30),
                    st.sampled_from([0, 1, 2, 1e-300, 1e300, -1, 2048, 100000]))
quantity_text = st.builds(lambda x, u, sep: f"{x}{sep}{u}", numbers, st.sampled_from(UNITS),
                          st.sampled_from([" ", "", "  ", " 0 "]))
scalars = st.one_of(quantity_text, numbers, st.booleans(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
known = [(t, k) for t, fields in SCHEMA.items() for k in fields]
keys = st.one_of(st.sampled_from(known),
                 st.tuples(st.sampled_from(list(SCHEMA) + ["bogus", "sweep"]), st.text(max_size=8)))


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(tables: dict) -> str:
    out = []
    for table, entries in tables.items():
        out.append(f"[{json.dumps(table)}]")
        out += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in entries.items()]
    return "\n".join(out) + "\n"


@st.composite
def scenario_files(draw):
    tables: dict = {}
    for table, key in draw(st.lists(keys, max_size=6)):
        tables.setdefault(table, {})[key] = draw(values)
    if draw(st.booleans()):  # a sweep over a known key, sometimes huge
        table, key = draw(st.sampled_from(known))
        tables.setdefault("sweep", {})[f"{table}.{key}"] = draw(st.one_of(
            st.lists(scalars, max_size=4),
            st.fixed_dictionaries({"start": scalars, "stop": scalars,
                                   "num": st.integers(-5, 10**9)})))
    return toml_document(tables)


@settings(FUZZ, max_examples=40)
@given(text=scenario_files(), command=st.sampled_from(["simulate", "run"]))
def test_generated_scenarios(memory_guard, text, command):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(text)
        code, err = cli(command, path, "--out", Path(tmp) / "out", "--max-memory", "1 MiB")
        assert_clean(code, err)


# ----------------------------------------------------------------------------- image files
def _valid_images(folder: Path) -> list[Path]:
    from PIL import Image

    from physics.imageio import write_tiff

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (24, 24), dtype=np.uint8)
    write_tiff(folder / "stack.tif", rng.random((2, 24, 24)).astype(np.float32), pixel_size_um=0.5)
    write_tiff(folder / "u16.tif", (grey * 100).astype(np.uint16), pixel_size_um=0.5,
               dtype=np.uint16)
    import tifffile

    tifffile.imwrite(folder / "zlib.tif", grey, compression="zlib", rowsperstrip=4)
    Image.fromarray(grey).save(folder / "g.png")
    Image.fromarray(np.stack([grey] * 3, -1)).save(folder / "c.jpg")
    return [folder / n for n in ("stack.tif", "u16.tif", "zlib.tif", "g.png", "c.jpg")]


@st.composite
def corruptions(draw):
    kind = draw(st.sampled_from(["truncate", "flip", "random", "empty", "swap-type", "nan"]))
    return kind, draw(st.integers(0, 2**31)), draw(st.integers(0, 4))


def _corrupt(src: Path, dst_dir: Path, kind: str, seed: int, which: int) -> Path:
    raw = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    suffix = src.suffix
    if kind == "truncate":
        raw = raw[: int(rng.integers(0, len(raw)))]
    elif kind == "flip":
        for pos in rng.integers(0, len(raw), 1 + which):
            raw[pos] = int(rng.integers(0, 256))
    elif kind == "random":
        raw = bytearray(rng.integers(0, 256, int(rng.integers(1, 4096)), dtype=np.uint8).tobytes())
    elif kind == "empty":
        raw = bytearray()
    elif kind == "swap-type":  # a PNG named .tif, a TIFF named .png
        suffix = ".png" if suffix == ".tif" else ".tif"
    elif kind == "nan":
        from physics.imageio import write_tiff

        img = rng.random((2, 24, 24)).astype(np.float32)
        img[0, int(rng.integers(0, 24)), 3] = np.nan
        dst = dst_dir / "nan.tif"
        import tifffile

        tifffile.imwrite(dst, img, imagej=True)  # write_tiff refuses NaN; a user file may hold it
        return dst
    dst = dst_dir / f"bad{suffix}"
    dst.write_bytes(bytes(raw))
    return dst


@settings(FUZZ, max_examples=40)
@given(case=corruptions(), measure=st.sampled_from(["noise", "edge"]))
def test_corrupted_images(memory_guard, case, measure):
    kind, seed, which = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = _valid_images(tmp)
        bad = _corrupt(sources[which], tmp, kind, seed, which)
        args = ["measure", measure, bad, "--slice", "0", "--max-memory", BUDGET,
                "--out", tmp / "r.json"]
        args += ["--roi", "0,0,24,24"] if measure == "edge" else ["--roi", "0,0,12,12"]
        code, err = cli(*args)
        assert_clean(code, err)
        if code != 0:
            assert not (tmp / "r.json").exists()


# ----------------------------------------------------------------------------- JSON inputs
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
              st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)


def _mutate(d: dict, data) -> dict:
    """Drop, retype or replace some keys of a JSON object (``data`` is hypothesis data)."""
    d = json.loads(json.dumps(d))
    for key in data.draw(st.lists(st.sampled_from(sorted(d)), max_size=3, unique=True)):
        action = data.draw(st.sampled_from(["drop", "replace", "nan", "huge", "negative"]))
        if action == "drop":
            d.pop(key)
        elif action == "replace":
            d[key] = data.draw(json_values)
        elif action == "nan":
            d[key] = float("nan")
        elif action == "huge":
            d[key] = [10**6] * 3 if isinstance(d[key], list) else 10**9
        else:
            d[key] = -1
    return d


@pytest.fixture(scope="module")
def reconstruct_inputs(tmp_path_factory):
    import recon
    from physics.imageio import write_tiff
    from recon import geometry as geo

    folder = tmp_path_factory.mktemp("fuzz-geom")
    g = recon.tomosynthesis(n_views=3, arc_deg=20, source_distance_um=5e4, det_shape=(8, 8),
                            det_pixel_um=1.0, vol_shape=(2, 8, 8), voxel_um=(1.0, 1.0, 1.0),
                            heights_um=[10, 11])
    geo.save(folder / "g.json", g)
    write_tiff(folder / "p.tif", np.random.default_rng(0).random((3, 8, 8)).astype(np.float32),
               pixel_size_um=1.0)
    return folder, json.loads((folder / "g.json").read_text())


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_corrupted_geometry_json(memory_guard, reconstruct_inputs, data):
    folder, geometry = reconstruct_inputs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.json"
        text = data.draw(st.one_of(
            st.just(json.dumps(_mutate(geometry, data))),
            json_values.map(json.dumps),
            st.just(json.dumps(geometry)[: data.draw(st.integers(0, 200))])))
        path.write_text(text)
        code, err = cli("reconstruct", folder / "p.tif", "--geometry", path, "--method", "sas",
                        "--out", Path(tmp) / "s.tif", "--no-progress", "--max-memory", BUDGET)
        assert_clean(code, err)


@pytest.fixture(scope="module")
def learn_inputs(tmp_path_factory):
    from learn import Degradation, make_dataset
    from learn.checkpoint import save_checkpoint
    from learn.model import ModelConfig, create_model
    from physics.imageio import write_tiff

    folder = tmp_path_factory.mktemp("fuzz-learn")
    deg = Degradation(scale=2, blur_sigma_px=1.0, noise_sigma=0.01)
    save_checkpoint(folder / "ck", model=create_model(ModelConfig(scale=2, depth=2, width=4)),
                    degradation=deg, step=0)
    make_dataset(folder / "data", degradation=deg, n_synthetic=3, hr_size=16, shard_size=2,
                 val_fraction=0.34, seed=0)
    write_tiff(folder / "in.tif", np.random.default_rng(0).random((8, 8)).astype(np.float32),
               pixel_size_um=1.0)
    return folder


@pytest.fixture(scope="module")
def memory_guard(reconstruct_inputs, learn_inputs):
    """Fails the module if the peak resident memory grew past budget + allowance.

    The baseline is taken once the libraries are imported and the shared inputs made,
    so the growth is what the fuzzed commands themselves allocated.
    """
    import jax.numpy as jnp

    import learn  # noqa: F401
    import recon  # noqa: F401

    jnp.zeros(4).block_until_ready()
    cli("measure", "noise", "missing.tif", "--roi", "0,0,1,1")
    start = peak_mib()
    yield
    grown = peak_mib() - start
    assert grown < 32 + ALLOWANCE_MIB, f"peak memory grew by {grown:.0f} MiB"


@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_corrupted_checkpoint(memory_guard, learn_inputs, data):
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "ck"
        shutil.copytree(learn_inputs / "ck", ck)
        info = json.loads((ck / "checkpoint.json").read_text())
        if data.draw(st.booleans()):
            (ck / "checkpoint.json").write_text(json.dumps(_mutate(info, data)))
        else:  # damage the state file instead
            state = ck / info["state_file"]
            raw = state.read_bytes()
            cut = data.draw(st.integers(0, len(raw) - 1))
            state.write_bytes(raw[:cut])
        code, err = cli("enhance", learn_inputs / "in.tif", "--out", Path(tmp) / "o.tif",
                        "--checkpoint", ck, "--max-memory", BUDGET)
        assert_clean(code, err)


@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_corrupted_manifest(memory_guard, learn_inputs, data):
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "data"
        shutil.copytree(learn_inputs / "data", d)
        manifest = json.loads((d / "manifest.json").read_text())
        target = data.draw(st.sampled_from(["top", "shard", "shard-file"]))
        if target == "top":
            manifest = _mutate(manifest, data)
        elif target == "shard":
            i = data.draw(st.integers(0, len(manifest["shards"]) - 1))
            manifest["shards"][i] = _mutate(manifest["shards"][i], data)
        else:
            shard = d / manifest["shards"][-1]["file"]
            raw = shard.read_bytes()
            shard.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
        (d / "manifest.json").write_text(json.dumps(manifest))
        # --batch 100000 needs GBs of activations: a manifest that passes every check is
        # refused by the budget, so no example trains (and the checks all run first).
        code, err = cli("train", "--data", d, "--out", Path(tmp) / "ck", "--preset", "tiny",
                        "--steps", 1, "--batch", 100000, "--patch", 4, "--max-memory", BUDGET)
        assert_clean(code, err)
        assert code == 2
