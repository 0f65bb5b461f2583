"""Every case of issue 9 (hardening) reproduced through the CLI entry point, in-process.

Each test failed before the change (a traceback, a crash, a file read or deleted outside
its folder, or a silently wrong result) and now ends in success or one error line, exit 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cli_helpers import assert_user_error, run_cli
from physics.imageio import read_image, write_tiff

TINY = "--max-memory", "64 MiB"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A complete 3-image data set (72 px, s=2: room for an 8-px LR patch and its 14-px
    degradation margins)."""
    from learn import make_dataset

    out = tmp_path_factory.mktemp("hard") / "data"
    make_dataset(out, scale=2, n_synthetic=3, hr_size=72, shard_size=2, val_fraction=0.34,
                 seed=1)
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained depth-2 width-4 checkpoint (enough to load, validate and run)."""
    from learn import DegradationRange
    from learn.checkpoint import save_checkpoint
    from learn.model import ModelConfig, create_model

    out = tmp_path_factory.mktemp("hard") / "ckpt"
    save_checkpoint(out, model=create_model(ModelConfig(scale=2, depth=2, width=4)),
                    trained_range=DegradationRange(scale=2), step=0)
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def _scenario(tmp_path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- 1. confinement
def test_checkpoint_state_file_outside_folder_is_neither_read_nor_deleted(tmp_path, capsys,
                                                                           checkpoint, dataset):
    victim = tmp_path / "victim" / "state-00000020.npz"
    victim.parent.mkdir()
    shutil.copy(next(checkpoint.glob("state-*.npz")), victim)
    ck = _copy(checkpoint, tmp_path / "ck")
    _edit_json(ck / "checkpoint.json", state_file="../victim/state-00000020.npz")
    line = assert_user_error(run_cli(capsys, "train", "--data", dataset, "--out", ck, "--resume",
                                     "--preset", "tiny", "--steps", 1, "--patch", 4, "--batch", 1),
                             "state_file")
    assert "victim" in line  # names the offending value, not file contents
    assert victim.is_file()
    # Saving a new checkpoint over the hostile one never deletes what it names.
    from learn import DegradationRange
    from learn.checkpoint import save_checkpoint
    from learn.model import ModelConfig, create_model

    save_checkpoint(ck, model=create_model(ModelConfig(scale=2, depth=2, width=4)),
                    trained_range=DegradationRange(scale=2), step=5)
    assert victim.is_file()


def test_manifest_shard_outside_folder_is_refused(tmp_path, capsys, dataset, checkpoint):
    secret = tmp_path / "secret.npz"
    np.savez(secret, hr=np.zeros((1, 16, 16), np.float32), lr=np.zeros((1, 8, 8), np.float32))
    data = _copy(dataset, tmp_path / "d")
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["shards"][-1]["file"] = "../secret.npz"
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--data", data),
                      "shards[", "../secret.npz")
    manifest["shards"][-1]["file"] = str(secret)  # absolute
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--data", data),
                      "not a plain name")


@pytest.mark.parametrize("name", ["../../X", "/tmp/abs", "a\\b", "..", "x\x01y"])
def test_scenario_name_is_a_name(tmp_path, capsys, name):
    path = _scenario(tmp_path, f"[scenario]\nname = {json.dumps(name)}\n")
    assert_user_error(run_cli(capsys, "run", path, *TINY), "scenario.name")
    assert not (tmp_path.parent / "X").exists()


def test_default_run_folder_uses_the_safe_name(tmp_path, capsys, monkeypatch):
    from twin.scenario import safe_name

    assert safe_name("My run: 50 kV (v2)") == "My_run_50_kV_v2"
    assert safe_name("...") == "unnamed" and not safe_name(".hidden").startswith(".")
    monkeypatch.chdir(tmp_path)
    path = _scenario(tmp_path, '[scenario]\nname = "My run"\n')
    assert_user_error(run_cli(capsys, "run", path, "--max-memory", "1 MiB"), "memory budget")
    assert not (tmp_path / "runs").exists()  # refused before any folder was made


def test_spectrum_file_outside_the_scenario_folder_is_refused(tmp_path, capsys):
    path = _scenario(tmp_path, '[source]\nspectrum_file = "../../../../etc/passwd"\n')
    line = assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"),
                             "source.spectrum_file")
    assert "root" not in line
    outside = tmp_path.parent / f"{tmp_path.name}-spec.txt"
    outside.write_text("10 1\n11 2\n")
    (tmp_path / "link.txt").symlink_to(outside)  # a link leading out of the folder
    path = _scenario(tmp_path, '[source]\nspectrum_file = "link.txt"\n')
    assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"), "leads outside")


def test_spectrum_file_contents_never_appear_in_messages(tmp_path, capsys):
    (tmp_path / "spec.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    path = _scenario(tmp_path, '[source]\nspectrum_file = "spec.txt"\n[camera]\nroi_rows = 64\n'
                               'roi_cols = 64\n[geometry]\nn_views = 1\n[object]\nphantom = "edge"\n')
    line = assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"), "spec.txt")
    assert "root:" not in line and "bash" not in line


# ----------------------------------------------------------------------------- 2. budget
@pytest.mark.parametrize("table, keys", [
    ("[camera]\nrows = 100000\ncols = 100000\n", ("camera.rows", "camera.cols")),
    ("[camera]\nrows = 20000\ncols = 20000\n", ("camera.rows",)),
    ('[object]\nfield_of_view = "1 m"\n', ("object.field_of_view",)),
])
def test_oversized_simulations_are_refused_before_allocation(tmp_path, capsys, table, keys):
    out = tmp_path / "out"
    line = assert_user_error(run_cli(capsys, "simulate", _scenario(tmp_path, table), "--out", out,
                                     "--max-memory", "8 GiB"), *keys, "memory budget of 8 GiB")
    assert "would need about" in line
    assert not out.exists()  # refused before the output folder is made


def test_default_budget_is_a_stated_share_of_physical_memory():
    from twin import budget

    assert budget.default_budget() == int(budget.DEFAULT_SHARE * budget.physical_memory())
    assert 0 < budget.DEFAULT_SHARE <= 1


def test_huge_sweep_is_refused_quickly(tmp_path, capsys):
    path = _scenario(tmp_path, '[sweep]\n"optics.na" = {start = 0.1, stop = 0.9, num = 100000000}\n')
    assert_user_error(run_cli(capsys, "run", path), "sweep.optics.na.num", "10000 points")
    many = ", ".join(f'"{i} um"' for i in range(30, 130))
    path = _scenario(tmp_path, f'[sweep]\n"source.focal_spot_size" = [{many}]\n'
                               f'"object.thickness" = [{many}]\n"camera.pixel" = [{many}]\n')
    assert_user_error(run_cli(capsys, "run", path), "larger than 10000 points")


def test_reconstruct_refuses_a_huge_volume(tmp_path, capsys):
    import recon
    from recon import geometry as geo

    g = recon.tomosynthesis(n_views=3, arc_deg=20, source_distance_um=5e4, det_shape=(48, 64),
                            det_pixel_um=1.0, vol_shape=(4, 48, 64), voxel_um=(1.0, 1.0, 1.0),
                            heights_um=[10, 11, 12, 13])
    geo.save(tmp_path / "g.json", g)
    data = json.loads((tmp_path / "g.json").read_text())
    data["vol_shape"] = [100000, 48, 64]
    (tmp_path / "g.json").write_text(json.dumps(data))
    write_tiff(tmp_path / "p.tif", np.zeros((3, 48, 64), np.float32), pixel_size_um=1.0)
    assert_user_error(run_cli(capsys, "reconstruct", tmp_path / "p.tif", "--geometry",
                              tmp_path / "g.json", "--out", tmp_path / "s.tif", *TINY),
                      "--geometry", "memory budget")


def _huge_tiled_tiff(path, side=30000, tile=1024):
    """A 30000x30000 uint8 TIFF of ~1 MB (zlib tiles), written tile by tile: no 900 MB array."""
    blank = np.zeros((tile, tile), np.uint8)
    # A slanted edge blurred by a Gaussian of 1.5 px (a bare step fails the edge's own fit check).
    from scipy.special import erf

    distance = np.add.outer(np.arange(tile), 0.1 * np.arange(tile)) - 150.0
    edge = np.round(20 + 180 * 0.5 * (1 + erf(distance / (np.sqrt(2) * 1.5)))).astype(np.uint8)
    n = -(-side // tile)

    def tiles():
        for i in range(n * n):
            yield edge if i == 0 else blank

    tifffile.imwrite(path, tiles(), shape=(side, side), dtype=np.uint8, tile=(tile, tile),
                     compression="zlib")
    return path


def test_large_compressed_tiff_is_sized_from_its_header(tmp_path, capsys, checkpoint):
    big = _huge_tiled_tiff(tmp_path / "big.tif")
    assert big.stat().st_size < 5e6
    # Only the region is read: a 300 x 300 ROI decodes one 1024^2 tile, within 16 MiB.
    code, out, err = run_cli(capsys, "measure", "edge", big, "--roi", "10,10,300,300", "--json",
                             "--max-memory", "16 MiB", "--pixel-size", "1 um")
    assert code == 0, err
    assert json.loads(out)["sigma_px"] > 0
    # Commands that need the whole image are refused from the header (900 MB > 64 MiB).
    assert_user_error(run_cli(capsys, "measure", "noise", big, "--roi", "0,0,10,10", *TINY),
                      "IMAGE", "memory budget")
    assert_user_error(run_cli(capsys, "enhance", big, "--out", tmp_path / "o.tif",
                              "--checkpoint", checkpoint, *TINY), "INPUT", "memory budget")
    assert not (tmp_path / "o.tif").exists()


def test_huge_synthetic_dataset_is_refused(tmp_path, capsys):
    assert_user_error(run_cli(capsys, "dataset", tmp_path / "d", "--synthetic", 100000000,
                              "--max-memory", "8 GiB"), "--synthetic", "memory budget")
    assert not (tmp_path / "d").exists()


# ----------------------------------------------------------------------------- 3. error surface
@pytest.mark.parametrize("command", [
    ("measure", "noise", "{img}", "--roi", "0,0,8,8", "--out", "{dir}"),
    ("reconstruct", "{img}", "--geometry", "{img}", "--out", "{dir}"),
    ("enhance", "{img}", "--out", "{dir}"),
    ("simulate", "{scenario}", "--out", "{file}"),
    ("run", "{scenario}", "--out", "{file}"),
    ("dataset", "{file}", "--synthetic", "2"),
])
def test_out_of_the_wrong_kind_is_one_line(tmp_path, capsys, command):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    write_tiff(tmp_path / "i.tif", np.ones((16, 16), np.float32), pixel_size_um=1.0)
    scenario = _scenario(tmp_path, "[scenario]\nname = 'x'\n")
    args = [a.format(img=tmp_path / "i.tif", dir=tmp_path / "dir", file=tmp_path / "file",
                     scenario=scenario) for a in command]
    assert_user_error(run_cli(capsys, *args), "is a")


def test_truncated_shard_is_one_line(tmp_path, capsys, dataset, checkpoint):
    data = _copy(dataset, tmp_path / "d")
    shard = next(data.glob("val-*.npz"))
    shard.write_bytes(shard.read_bytes()[:100])
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--data", data),
                      shard.name)


def test_truncated_partial_reconstruction_is_one_line(tmp_path, capsys):
    from twin.commands.reconstruct import load_partial

    partial = tmp_path / "s.tif.partial.npz"
    np.savez(partial, fingerprint=np.str_("abc"), x=np.zeros(4))
    partial.write_bytes(partial.read_bytes()[:60])
    with pytest.raises(Exception) as info:
        load_partial(partial, "abc")
    from twin.console import user_error_message

    assert user_error_message(info.value).startswith(str(partial))


@pytest.mark.parametrize("edit", [
    {"model": None}, {"conditioning": None}, {"state_file": None}, {"step": "ten"},
    {"model": {"scale": 2, "depth": 20, "width": 100000}}, {"format": "other"},
    {"format_version": 1}, {"conditioning": {"encoding": "other"}},
    {"model": {"scale": 2, "depth": 2, "width": 5}},
])
def test_damaged_checkpoint_json_is_one_line(tmp_path, capsys, checkpoint, edit):
    ck = _copy(checkpoint, tmp_path / "ck")
    _edit_json(ck / "checkpoint.json", **edit)
    write_tiff(tmp_path / "i.tif", np.ones((8, 8), np.float32) * np.arange(8), pixel_size_um=1.0)
    assert_user_error(run_cli(capsys, "enhance", tmp_path / "i.tif", "--out", tmp_path / "o.tif",
                              "--checkpoint", ck), "checkpoint.json")


def test_shard_size_zero_is_one_line(tmp_path, capsys):
    assert_user_error(run_cli(capsys, "dataset", tmp_path / "d", "--synthetic", "4",
                              "--shard-size", "0"), "--shard-size", "positive integer")


def test_pixel_size_tag_holding_a_list_reads_as_uncalibrated(tmp_path, capsys):
    from physics.imageio import _tiff_calibration

    class Tag:
        value = [1, 2, 3]  # what a malformed XResolution gave before: a list, not a ratio

    class Page:
        tags = {"XResolution": Tag()}

    class Tiff:
        imagej_metadata = {"unit": "um"}
        pages = [Page()]

    assert _tiff_calibration(Tiff()) == ({}, None)
    Tiff.imagej_metadata = {"unit": "um", "Info": json.dumps({"pixel_size_um": [0.4, 0.4]})}
    assert _tiff_calibration(Tiff()) == ({}, None)
    path = tmp_path / "odd.tif"
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    tifffile.imwrite(path, img, imagej=True,
                     metadata={"Info": json.dumps({"pixel_size_um": [0.4, 0.4]})})
    code, out, err = run_cli(capsys, "measure", "noise", path, "--roi", "0,0,16,16", "--json")
    assert code == 0, err


def test_internal_errors_exit_1_with_traceback_and_report_line(capsys, monkeypatch):
    import twin.commands.simulate as sim

    def broken(args):
        raise ValueError("an unexpected bug")

    monkeypatch.setattr(sim, "run", broken)
    code, out, err = run_cli(capsys, "simulate", "x.toml", "--out", "o")
    assert code == 1
    assert "Traceback" in err and "an unexpected bug" in err
    assert "twin: internal error (ValueError)" in err and "report" in err


def test_os_errors_on_user_files_are_user_errors(tmp_path, capsys):
    from twin.console import user_error_message

    exc = PermissionError(13, "Permission denied", str(tmp_path / "x"))
    assert user_error_message(exc) == f"{tmp_path / 'x'}: Permission denied"
    assert user_error_message(ValueError("bug")) is None
    assert user_error_message(KeyError("bug")) is None


# ----------------------------------------------------------------------------- 4./5. silent wrongs
def test_two_numbers_in_a_quantity_are_refused(tmp_path, capsys):
    path = _scenario(tmp_path, '[object]\nheight = "2 0 um"\n')
    assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"), "object.height",
                      "'2 0 um'")
    from physics.units import UnitError, to_float

    for text in ("2 0 um", "1 2", "3 um 4", "um 3"):
        with pytest.raises(UnitError):
            to_float(text, "um", key="k")
    assert to_float("2e1um", "um", key="k") == 20.0


def test_enhance_of_rgb_tiff_writes_grey(tmp_path, capsys, checkpoint):
    rgb = np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    # --noise-sigma: the conditioned network cannot estimate the noise of a 12x10 image
    code, out, err = run_cli(capsys, "enhance", tmp_path / "rgb.tif", "--out", tmp_path / "o.tif",
                             "--checkpoint", checkpoint, "--noise-sigma", "0.01", "--json")
    assert code == 0, err
    assert read_image(tmp_path / "o.tif").data.shape == (24, 20)
    grey = read_image(tmp_path / "rgb.tif").data
    assert np.allclose(grey, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)


def test_truncated_multipage_tiff_is_refused(tmp_path, capsys):
    stack = np.random.default_rng(1).random((3, 32, 32)).astype(np.float32)
    write_tiff(tmp_path / "s.tif", stack, pixel_size_um=1.0)
    raw = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(raw[: len(raw) * 2 // 3])
    assert_user_error(run_cli(capsys, "measure", "noise", tmp_path / "t.tif", "--slice", "0",
                              "--roi", "0,0,16,16"), "t.tif", "truncated")
    # A plain (non-ImageJ) multi-page TIFF cut inside its data is refused as well.
    tifffile.imwrite(tmp_path / "p.tif", stack, photometric="minisblack")
    raw = (tmp_path / "p.tif").read_bytes()
    (tmp_path / "q.tif").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(Exception, match="truncated"):
        read_image(tmp_path / "q.tif")


def test_edited_manifest_hash_or_count_is_refused(tmp_path, capsys, dataset, checkpoint):
    for field, value in (("sha256", "0" * 64), ("count", 5)):
        data = _copy(dataset, tmp_path / f"d-{field}")
        manifest = json.loads((data / "manifest.json").read_text())
        val = [s for s in manifest["shards"] if s["split"] == "val"][0]
        val[field] = value
        (data / "manifest.json").write_text(json.dumps(manifest))
        assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--data", data),
                          "manifest" if field == "count" else "SHA-256")
    # A shard whose bytes changed (same name, same count) fails its hash.
    data = _copy(dataset, tmp_path / "d-bytes")
    shard = next(data.glob("val-*.npz"))
    with np.load(shard) as z:
        hr = z["hr"] + 1.0
    np.savez(shard, hr=hr)
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--data", data),
                      "SHA-256")


@pytest.mark.slow
def test_resume_with_different_data_is_refused(tmp_path, capsys, dataset):
    from learn import make_dataset

    ck = tmp_path / "ck"
    args = ("--out", ck, "--preset", "tiny", "--steps", 2, "--batch", 2, "--patch", 8,
            "--val-every", 2)
    code, _, err = run_cli(capsys, "train", "--data", dataset, *args, "--json")
    assert code == 0, err
    other = tmp_path / "other"  # same parameters, another seed: other images
    make_dataset(other, scale=2, n_synthetic=3, hr_size=72, shard_size=2, val_fraction=0.34,
                 seed=2)
    assert_user_error(run_cli(capsys, "train", "--data", other, *args, "--resume"),
                      "--resume", "data: the data set differs")
    code, _, err = run_cli(capsys, "train", "--data", dataset, *args, "--resume", "--json")
    assert code == 0, err


def test_checkpoint_scale_disagreeing_with_its_model_is_refused(tmp_path, capsys, checkpoint):
    ck = _copy(checkpoint, tmp_path / "ck")
    conditioning = json.loads((ck / "checkpoint.json").read_text())["conditioning"]
    conditioning["trained_range"]["scale"] = 3
    _edit_json(ck / "checkpoint.json", conditioning=conditioning)
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", ck, "--synthetic", 1,
                              "--size", 16), "scale")


def test_nan_weights_are_refused(tmp_path, capsys, checkpoint):
    ck = _copy(checkpoint, tmp_path / "ck")
    state = next(ck.glob("state-*.npz"))
    with np.load(state) as z:
        arrays = {k: z[k] for k in z.files}
    first = sorted(k for k in arrays if k.startswith("params/"))[0]
    arrays[first] = np.full_like(arrays[first], np.nan)
    np.savez(state, **arrays)
    assert_user_error(run_cli(capsys, "evaluate", "--checkpoint", ck, "--synthetic", 1,
                              "--size", 16, "--json"), "NaN")


def test_empty_scenario_is_refused(tmp_path, capsys):
    assert_user_error(run_cli(capsys, "run", _scenario(tmp_path, "")), "empty")
    assert_user_error(run_cli(capsys, "simulate", _scenario(tmp_path, "\n# nothing\n"), "--out",
                              tmp_path / "o"), "empty")


def test_na_limit_is_the_same_in_schema_and_physics(tmp_path, capsys):
    from physics.optics import Objective
    from twin.schema import SCHEMA

    assert SCHEMA["optics"]["na"].max == 1.0
    with pytest.raises(ValueError):
        Objective(20.0, 0.2, 1.0 + 1e-9, 0.9)
    path = _scenario(tmp_path, "[optics]\nna = 1.6\n")
    assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"),
                      "optics.na", "must be <= 1")


def test_absurd_exposure_is_refused_not_nan(tmp_path, capsys):
    path = _scenario(tmp_path, '[acquisition]\nexposure = "1e30 s"\n')
    assert_user_error(run_cli(capsys, "simulate", path, "--out", tmp_path / "o"),
                      "acquisition.exposure", "<= 86400 s")


# ----------------------------------------------------------------------------- 6. consistent CLI
def test_length_options_take_unit_strings(tmp_path, capsys, checkpoint):
    img = np.random.default_rng(0).integers(0, 255, (10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", img)  # no calibration
    code, _, err = run_cli(capsys, "enhance", tmp_path / "plain.tif", "--out", tmp_path / "o.tif",
                           "--checkpoint", checkpoint, "--pixel-size", "0.406 um",
                           "--noise-sigma", "0.01")
    assert code == 0, err
    assert read_image(tmp_path / "o.tif").pixel_size_um == pytest.approx(0.203)
    assert_user_error(run_cli(capsys, "enhance", tmp_path / "plain.tif", "--out", tmp_path / "o.tif",
                              "--checkpoint", checkpoint, "--pixel-size", "0.406"),
                      "--pixel-size", "no unit")
    from twin.commands.reconstruct import parse_heights

    assert np.allclose(parse_heights("10:20:5 um"), [10, 15, 20])
    assert np.allclose(parse_heights("0.01,0.02 mm"), [10, 20])
    assert np.allclose(parse_heights("10 um,0.02 mm"), [10, 20])
    for bad in ("10:20:5", "1,2", "1:x:2 um", "10:20 um"):
        with pytest.raises(Exception, match="--heights"):
            parse_heights(bad)


def test_missing_pixel_size_is_allowed_where_not_needed(tmp_path, capsys, checkpoint):
    img = np.random.default_rng(0).integers(0, 255, (10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", img)
    code, _, err = run_cli(capsys, "enhance", tmp_path / "plain.tif", "--out", tmp_path / "o.tif",
                           "--checkpoint", checkpoint, "--noise-sigma", "0.01")
    assert code == 0, err
    assert "no pixel size" in err and "written without one" in err
    out = read_image(tmp_path / "o.tif")
    assert out.pixel_size_um is None and out.data.shape == (20, 24)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_measure_reads_png_and_jpeg(tmp_path, capsys, suffix):
    from PIL import Image

    rng = np.random.default_rng(0)
    grey = np.clip(100 + 10 * rng.standard_normal((64, 64)), 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / f"n{suffix}", quality=100)
    code, out, err = run_cli(capsys, "measure", "noise", tmp_path / f"n{suffix}",
                             "--roi", "0,0,64,64", "--json")
    assert code == 0, err
    assert json.loads(out)["sigma"] == pytest.approx(10, rel=0.3)


def _help_lines(capsys, *command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    return out


@pytest.mark.parametrize("command", [("simulate",), ("reconstruct",), ("measure", "edge"),
                                     ("measure", "noise"), ("measure", "chart"), ("dataset",),
                                     ("train",), ("enhance",), ("evaluate",), ("run",)])
def test_help_prints_each_default_once(capsys, command):
    import re

    text = _help_lines(capsys, *command)
    assert "(default: None)" not in text
    # Each option's help block mentions its default at most once.
    blocks = re.split(r"\n  (?=\S)", text)[1:]  # one block per argument, after the description
    for block in blocks:
        assert block.count("(default") <= 1, block


def test_failed_sweep_point_reports_its_cause_or_is_internal():
    from physics.errors import ScenarioError
    from twin.console import user_error_message
    from twin.sweep import SweepPointError

    def failed(cause):
        try:
            raise SweepPointError(0, 2, {"optics.na": 0.3}, cause) from cause
        except SweepPointError as exc:
            return exc

    message = user_error_message(failed(ScenarioError("object.phantom: no line-pair groups")))
    assert message.startswith("sweep point 1/2") and "object.phantom: no line-pair groups" in message
    assert user_error_message(failed(ValueError("a bug"))) is None


def test_enhance_of_an_image_too_small_for_the_noise_estimate_asks_for_the_noise(tmp_path, capsys,
                                                                                  checkpoint):
    img = np.random.default_rng(0).integers(0, 255, (10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "small.tif", img)
    assert_user_error(run_cli(capsys, "enhance", tmp_path / "small.tif", "--out", tmp_path / "o.tif",
                              "--checkpoint", checkpoint), "small.tif", "--noise-sigma")
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("argv", [
    ["calibrate", "scenarios/calibrate_edge.toml", "--edge", "missing.tif", "--fit", "scintillator.thickness"],
    ["optimize", "scenarios/optimize_screen.toml", "--vary", "scintillator.thickness=1um:40um",
     "--objective", "mtf50"]])
def test_calibrate_and_optimize_are_sized_before_they_run(tmp_path, capsys, argv):
    root = Path(__file__).resolve().parents[2]
    argv = [str(root / a) if a.startswith("scenarios/") else a for a in argv]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "o", "--max-memory", "1 MiB")
    assert code == 2 and err.count("\n") == 1
    assert "more than the memory budget of 1 MiB" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written
