"""Data sets: determinism by seed, resume skipping finished shards, user images, errors."""

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from learn import load_dataset, make_dataset
from physics.imageio import ImageFileError

SMALL = dict(scale=2, n_synthetic=6, hr_size=32, shard_size=2, val_fraction=0.34, seed=7)


def shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.npz"))}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_dataset(a, **SMALL)
    make_dataset(b, **SMALL)
    make_dataset(c, **{**SMALL, "seed": 8})
    assert shard_bytes(a) == shard_bytes(b)
    assert len(shard_bytes(a)) == 3  # 4 train + 2 val in shards of 2
    assert not np.array_equal(load_dataset(a).hr, load_dataset(c).hr)
    ds = load_dataset(a, "val")
    assert ds.hr.shape == (2, 32, 32) and ds.scale == 2
    # Normalised by the product convention: 0.5th/99.5th percentiles map to 0/1.
    lo, hi = np.percentile(ds.hr[0].astype(np.float64), [0.5, 99.5])
    assert lo == pytest.approx(0.0, abs=1e-5) and hi == pytest.approx(1.0, abs=1e-5)


def test_resume_skips_finished_shards_and_rewrites_missing_ones(tmp_path):
    out = tmp_path / "d"
    make_dataset(out, **SMALL)
    before = shard_bytes(out)
    kept = out / "train-00000.npz"
    mtime = kept.stat().st_mtime_ns
    (out / "train-00001.npz").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False  # as if killed before the end
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageFileError, match="incomplete"):
        load_dataset(out)
    log = []
    make_dataset(out, **SMALL, progress=lambda n, info: log.append(info))
    assert kept.stat().st_mtime_ns == mtime
    assert shard_bytes(out) == before
    assert sum("kept" in s for s in log) == 2 and "train-00001.npz" in log
    assert not list(out.glob("*.part"))


def test_changed_parameters_are_refused(tmp_path):
    make_dataset(tmp_path, **SMALL)
    with pytest.raises(ValueError, match="different parameters.*scale"):
        make_dataset(tmp_path, **{**SMALL, "scale": 4})


def test_user_images_png_rgb_and_16bit_tiff(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 70, 3), dtype=np.uint8)).save(folder / "a.png")
    tifffile.imwrite(folder / "b.tif", rng.integers(0, 65535, (64, 33), dtype=np.uint16))
    m = make_dataset(tmp_path / "d", image_dir=folder, hr_size=32, shard_size=4,
                     val_fraction=0.5, seed=0)
    # a.png: 1x2 crops of 32, b.tif: 2x1 crops; one whole file is held out
    assert sorted(m["counts"].values()) == [2, 2]
    assert [f["name"] for f in m["sources"]["files"]] == ["a.png", "b.tif"]
    assert m["sources"]["image_dir"] == "imgs"  # no absolute path of this machine
    assert load_dataset(tmp_path / "d").hr.shape == (2, 32, 32)
    # Overlapping crops (step 16): a.png 1x3, b.tif 3x1; still split by whole file.
    m = make_dataset(tmp_path / "e", image_dir=folder, hr_size=32, crop_step=16, shard_size=4,
                     val_fraction=0.5, seed=0)
    assert sorted(m["counts"].values()) == [3, 3]


def test_mixed_shards_keep_item_order(tmp_path):
    # Synthetic scenes and crops in one shard: each item is rendered from its own source.
    folder = tmp_path / "imgs"
    folder.mkdir()
    img = (np.arange(64 * 32).reshape(64, 32) % 251).astype(np.uint8)
    Image.fromarray(img).save(folder / "a.png")
    make_dataset(tmp_path / "d", n_synthetic=3, image_dir=folder, hr_size=32, shard_size=8,
                 val_fraction=0.0, seed=0)
    hr = load_dataset(tmp_path / "d").hr
    assert hr.shape == (5, 32, 32)
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])
    np.testing.assert_allclose(hr[3], (img[:32] - lo) / (hi - lo), atol=1e-5)
    np.testing.assert_allclose(hr[4], (img[32:] - lo) / (hi - lo), atol=1e-5)


def test_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="sources"):
        make_dataset(tmp_path / "x")
    with pytest.raises(ValueError, match="hr_size"):
        make_dataset(tmp_path / "x", n_synthetic=2, hr_size=33)
    with pytest.raises(ImageFileError, match="image folder not found"):
        make_dataset(tmp_path / "x", image_dir=tmp_path / "missing")
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(small / "s.png")
    with pytest.raises(ImageFileError, match="smaller than hr_size"):
        make_dataset(tmp_path / "x", image_dir=small, hr_size=32)
