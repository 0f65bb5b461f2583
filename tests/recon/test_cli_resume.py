"""`twin reconstruct` iterative runs: interrupted, re-run, resumed exactly (in process)."""

import contextlib

import numpy as np
import pytest

import recon
from physics.imageio import read_tiff, write_tiff
from recon import geometry as geo
from twin.cli import build_parser
from twin.commands import reconstruct as command


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    geom = recon.tomosynthesis(n_views=5, arc_deg=40, source_distance_um=2000, det_shape=(20, 24),
                               det_pixel_um=1.0, vol_shape=(4, 12, 14), voxel_um=(2.0, 1.0, 1.0),
                               z_range=(10, 18))
    x = np.zeros(geom.vol_shape, np.float32)
    x[1:3, 4:7, 8:11] = 0.5
    geo.save(tmp / "geometry.json", geom)
    write_tiff(tmp / "projections.tif", np.asarray(recon.forward_project(x, geom)), pixel_size_um=1.0)
    return tmp


class Bar:
    """Stands in for twin.console.progress: counts advances, optionally interrupts after ``stop``."""

    def __init__(self, stop=None):
        self.stop, self.resumed, self.steps = stop, 0, 0

    @contextlib.contextmanager
    def __call__(self, description, total, *, enabled=True):
        def advance(n=1, info=""):
            if info == "resumed":
                self.resumed += n
                return
            self.steps += n
            if self.stop is not None and self.steps >= self.stop:
                raise KeyboardInterrupt

        yield advance


def _run(monkeypatch, tmp, out, bar, *extra):
    args = build_parser().parse_args(
        ["reconstruct", str(tmp / "projections.tif"), "--geometry", str(tmp / "geometry.json"),
         "--out", str(out), "--json", *extra])
    monkeypatch.setattr(command, "progress", bar)
    return command.run(args)


@pytest.mark.parametrize("method, options", [
    ("sirt", ["--iterations", "7", "--checkpoint-every", "2"]),
    ("grad", ["--iterations", "6", "--checkpoint-every", "4", "--tv", "0.01"]),
    ("cgls", ["--iterations", "6", "--checkpoint-every", "4"]),
])
def test_interrupted_run_resumes_exactly(case, monkeypatch, method, options):
    tmp = case
    common = ["--method", method, *options]
    total = int(options[1])
    full = tmp / f"{method}_full.tif"
    assert _run(monkeypatch, tmp, full, Bar(), *common) == 0

    out = tmp / f"{method}_resumed.tif"
    partial = command.partial_path(out)
    stop = total - 2  # not a multiple of --checkpoint-every: the interrupt itself saves
    with pytest.raises(KeyboardInterrupt):
        _run(monkeypatch, tmp, out, Bar(stop=stop), *common)
    assert not out.exists() and partial.is_file()
    with np.load(partial) as z:
        assert int(z["iteration"]) == stop

    bar = Bar()
    assert _run(monkeypatch, tmp, out, bar, *common) == 0
    assert (bar.resumed, bar.steps) == (stop, total - stop)  # only the remaining iterations ran
    assert not partial.exists()
    a, b = read_tiff(full), read_tiff(out)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.metadata["options"] == b.metadata["options"]


def test_other_options_start_afresh(case, monkeypatch):
    tmp = case
    out = tmp / "changed.tif"
    with pytest.raises(KeyboardInterrupt):
        _run(monkeypatch, tmp, out, Bar(stop=3), "--method", "sirt", "--iterations", "5")
    assert command.partial_path(out).is_file()
    bar = Bar()
    assert _run(monkeypatch, tmp, out, bar, "--method", "sirt", "--iterations", "5",
                "--relaxation", "0.5") == 0
    assert (bar.resumed, bar.steps) == (0, 5)
    assert not command.partial_path(out).exists()


def test_checkpoint_every_must_be_positive(case, monkeypatch, capsys):
    with pytest.raises(SystemExit) as info:  # refused by the option's type, one line
        _run(monkeypatch, case, case / "never.tif", Bar(), "--method", "sirt", "--checkpoint-every", "0")
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("twin: error: --checkpoint-every") and len(err.splitlines()) == 1


def test_resume_state_is_validated():
    geom = recon.tomosynthesis_2d(n_views=3, arc_deg=20, source_distance_um=500, det_cols=16,
                                  det_pixel_um=1.0, vol_shape=(2, 8), voxel_um=1.0, z_range=(5, 7))
    p = np.zeros(geom.proj_shape, np.float32)
    state = recon.IterationState("sirt", 2, np.zeros(geom.vol_shape), (0.1, 0.1))
    with pytest.raises(ValueError, match="resume.method"):
        recon.sart(p, geom, resume=state)
    with pytest.raises(ValueError, match="resume.iteration"):
        recon.sirt(p, geom, iterations=1, resume=state)
    with pytest.raises(ValueError, match="resume.x"):
        recon.sirt(p, geom, resume=recon.IterationState("sirt", 0, np.zeros((3, 8)), ()))
    with pytest.raises(ValueError, match="x0 and resume"):
        recon.sirt(p, geom, resume=state, x0=np.zeros(geom.vol_shape))
