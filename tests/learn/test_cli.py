"""twin dataset / train / enhance / evaluate on tiny inputs.

``test_console_script`` goes through the installed ``twin`` console script (skipping,
with the reason, while another part's subcommand module is missing); the whole chain
runs in-process through ``twin.cli.main`` restricted to the four learn commands.
"""

import json
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

from physics.imageio import read_tiff, write_tiff

TWIN = str(Path(sys.executable).parent / "twin")


def twin(*args):
    return subprocess.run([TWIN, *map(str, args)], capture_output=True, text=True, timeout=300)


def run_steps(run, tmp_path):
    """The whole learn chain; ``run(*args) -> (returncode, stdout, stderr)``."""
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    code, out, err = run("dataset", data, "--synthetic", 6, "--size", 32, "--shard-size", 4,
                         "--val-fraction", 0.34, "--blur-sigma", 1.0, "--json")
    assert code == 0, err
    assert json.loads(out)["counts"] == {"train": 4, "val": 2}
    code, out, err = run("train", "--data", data, "--out", ckpt, "--preset", "tiny", "--steps", 2,
                         "--batch", 2, "--patch", 8, "--val-every", 1, "--json")
    assert code == 0, err
    assert json.loads(out)["step"] == 2
    img = np.random.default_rng(0).integers(0, 4000, (2, 12, 10), dtype=np.uint16)
    write_tiff(tmp_path / "in.tif", img, pixel_size_um=0.8, dtype=np.uint16)
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "out.tif",
                         "--checkpoint", ckpt, "--json")
    assert code == 0, err
    res = read_tiff(tmp_path / "out.tif")
    assert res.data.shape == (2, 24, 20) and res.data.dtype == np.uint16
    assert res.pixel_size_um == pytest.approx(0.4)
    code, out, err = run("evaluate", "--checkpoint", ckpt, "--synthetic", 2, "--size", 32, "--json")
    assert code == 0, err
    assert set(json.loads(out)["methods"]) == {"bicubic", "wiener", "network"}
    # Bad input: one line naming the problem, exit status 2.
    code, out, err = run("evaluate", "--checkpoint", ckpt, "--scale", 4, "--synthetic", 1, "--size", 32)
    assert code == 2 and "checkpoint is for scale 2" in err and len(err.strip().splitlines()) == 1
    code, out, err = run("enhance", tmp_path / "missing.tif", "--out", tmp_path / "o.tif")
    assert code == 2 and "missing.tif: file not found" in err
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "o.tif",
                         "--checkpoint", tmp_path)
    assert code == 2 and "not a checkpoint" in err


def test_console_script(tmp_path, tiny_checkpoint):
    # Three launches (each imports jax): data set, enhance, one user error.
    p = twin("dataset", tmp_path / "d", "--synthetic", 3, "--size", 16, "--val-fraction", 0.34,
             "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["counts"] == {"train": 2, "val": 1}
    img = np.random.default_rng(0).integers(0, 255, (9, 13), dtype=np.uint8)
    write_tiff(tmp_path / "in.tif", img, pixel_size_um=0.8, dtype=np.uint8)
    p = twin("enhance", tmp_path / "in.tif", "--out", tmp_path / "out.tif", "--checkpoint",
             tiny_checkpoint, "--json")
    assert p.returncode == 0, p.stderr
    res = read_tiff(tmp_path / "out.tif")
    assert res.data.shape == (18, 26) and res.data.dtype == np.uint8
    assert res.pixel_size_um == pytest.approx(0.4)
    p = twin("enhance", tmp_path / "in.tif", "--out", tmp_path / "o.tif", "--checkpoint", tmp_path)
    assert p.returncode == 2 and "not a checkpoint" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_in_process_chain(tmp_path, monkeypatch, capsys):
    import twin.cli

    mine = ("dataset", "train", "enhance", "evaluate")
    monkeypatch.setattr(twin.cli, "COMMANDS", {c: twin.cli.COMMANDS[c] for c in mine})

    def run(*args):
        code = twin.cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return code, cap.out, cap.err

    run_steps(run, tmp_path)
