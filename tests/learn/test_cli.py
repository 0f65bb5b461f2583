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
    code, out, err = run("dataset", data, "--synthetic", 6, "--size", 80, "--shard-size", 4,
                         "--val-fraction", 0.34, "--json")
    assert code == 0, err
    assert json.loads(out)["counts"] == {"train": 4, "val": 2}
    code, out, err = run("train", "--data", data, "--out", ckpt, "--preset", "tiny", "--steps", 2,
                         "--batch", 2, "--patch", 8, "--val-every", 1, "--blur-sigma", 0.6, 2.4,
                         "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["step"] == 2 and res["degradations"]["blur_sigma_px"] == [0.6, 2.4]
    assert res["degradations"]["noise_sigma"] == [0.002, 0.08]  # the default range
    # The paper's protocol: fine-tune the checkpoint for one measured degradation.
    meas = tmp_path / "meas"
    meas.mkdir()
    (meas / "edge.json").write_text(json.dumps({"sigma_px": 1.4}))
    (meas / "noise.json").write_text(json.dumps({"sigma_normalized": 0.03}))
    code, out, err = run("train", "--data", data, "--out", tmp_path / "ft", "--init", ckpt,
                         "--steps", 1, "--batch", 2, "--patch", 8, "--edge-json",
                         meas / "edge.json", "--noise-sigma", 0.03, "--json")
    assert code == 0, err
    assert json.loads(out)["degradations"]["blur_sigma_px"] == [1.4, 1.4]
    # A ramp with grey-level noise 30: in normalised units 30 / (p99.5 - p0.5) of the slice.
    ramp = 1000.0 + 20.0 * np.arange(36)[None, None, :] + np.zeros((2, 40, 1))
    img = np.rint(ramp + np.random.default_rng(0).normal(0, 30, ramp.shape)).astype(np.uint16)
    write_tiff(tmp_path / "in.tif", img, pixel_size_um=0.8, dtype=np.uint16)
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "out.tif",
                         "--checkpoint", ckpt, "--json")
    assert code == 0, err
    res = read_tiff(tmp_path / "out.tif")
    assert res.data.shape == (2, 80, 72) and res.data.dtype == np.uint16
    assert res.pixel_size_um == pytest.approx(0.4)
    used = json.loads(out)
    assert used["blur_source"] == "checkpoint default" and used["blur_sigma_px"] == 1.0
    assert used["noise_source"] == "estimated from the image" and len(used["noise_sigma"]) == 2
    lo, hi = np.percentile(img[0].astype(float), [0.5, 99.5])
    assert used["noise_sigma"][0] == pytest.approx(30 / (hi - lo), rel=0.15)
    # --from a folder of measurements; a number on the command line wins over the file.
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "out2.tif",
                         "--checkpoint", ckpt, "--from", meas, "--blur-sigma", 2.0, "--json")
    assert code == 0, err
    used = json.loads(out)
    assert (used["blur_sigma_px"], used["noise_sigma"], used["noise_source"]) == \
        (2.0, [0.03, 0.03], "given")
    # Outside the trained range: a warning names the value and the range.
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "out3.tif",
                         "--checkpoint", ckpt, "--noise-sigma", 0.5, "--blur-sigma", 4, "--json")
    assert code == 0, err
    assert "noise_sigma 0.5 (normalised) is above the trained range 0.002-0.08" in err
    assert "blur_sigma_px 4 LR px is outside the trained range 0.6-2.4; using 2.4" in err
    assert json.loads(out)["noise_sigma"] == [0.08, 0.08]
    code, out, err = run("evaluate", "--checkpoint", ckpt, "--synthetic", 2, "--size", 64, "--json")
    assert code == 0, err
    assert set(json.loads(out)["methods"]) == {"bicubic", "wiener", "network"}
    # Bad input: one line naming the problem, exit status 2.
    code, out, err = run("evaluate", "--checkpoint", ckpt, "--scale", 4, "--synthetic", 1, "--size", 32)
    assert code == 2 and "checkpoint is for scale 2" in err and len(err.strip().splitlines()) == 1
    code, out, err = run("enhance", tmp_path / "in.tif", "--out", tmp_path / "o.tif",
                         "--from", tmp_path / "nowhere")
    assert code == 2 and "--from folder not found" in err
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
             tiny_checkpoint, "--noise-sigma", 0.01, "--json")
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
