"""Training data sets on disk: shards of sharp (HR) images + a manifest.

Layout of a data set folder::

    manifest.json          parameters, sources, counts, shard list (written first and last)
    train-00000.npz ...    array ``hr`` (n, H, W), float32, normalised (product convention)
    val-00000.npz ...      the held-out split (never used for gradient steps)

The degradation is not stored: training degrades each patch on the fly with a blur and
noise drawn from its :class:`learn.degrade.DegradationRange` (format version 2; version
1 stored (HR, LR) pairs of one fixed degradation and is refused).

Shards are ``.npz`` files (no pickle) written atomically; re-running the same command
skips shards that are already complete, so an interrupted run resumes. Everything
random is drawn from ``seed`` through ``jax.random.fold_in``, item by item, so a data
set is the same bit for bit whatever the shard order or interruption history.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from physics.errors import OptionError
from physics.version import code_version
from physics.imageio import (ImageFileError, atomic_path, image_info, member_path, read_json,
                             write_json)

from .degrade import _check_scale
from .intensity import list_images, normalize, read_grey
from .synthetic import render_scenes

FORMAT_VERSION = 2
SPLITS = ("train", "val")
_SPLIT_ID = {"train": 0, "val": 1}


@dataclass(frozen=True)
class Dataset:
    """One split of a data set in memory: sharp normalised images ``hr`` (n, H, W)."""

    hr: np.ndarray
    scale: int
    manifest: dict


def _plan(n_synthetic, image_dir, hr_size, crop_step, val_fraction, seed):
    """List every item as (split, source) where source is ("synthetic", i) or (file, y, x)."""
    items = {"train": [], "val": []}
    n_val = int(round(n_synthetic * val_fraction))
    items["train"] += [("synthetic", i) for i in range(n_synthetic - n_val)]
    items["val"] += [("synthetic", i) for i in range(n_val)]
    files = []
    if image_dir is not None:
        crops = []
        for path in list_images(image_dir):
            shape = image_info(path).shape  # header only: the images are decoded shard by shard
            if len(shape) != 2:
                raise ImageFileError(f"{path}: expected a 2D image, got {'x'.join(map(str, shape))}")
            h, w = shape
            if h < hr_size or w < hr_size:
                raise ImageFileError(f"{path}: image {h}x{w} is smaller than hr_size={hr_size}")
            files.append({"name": path.name, "shape": [h, w]})
            for y in range(0, h - hr_size + 1, crop_step):
                for x in range(0, w - hr_size + 1, crop_step):
                    crops.append((path.name, y, x))
        # Split by whole image so overlapping crops never straddle train and val.
        order = np.asarray(jax.random.permutation(jax.random.PRNGKey(seed), len(files)))
        n_val = int(round(len(files) * val_fraction))
        val_names = {files[i]["name"] for i in order[:n_val]}
        items["val"] += [c for c in crops if c[0] in val_names]
        items["train"] += [c for c in crops if c[0] not in val_names]
    return items, files


def make_dataset(out_dir, *, scale: int = 2, n_synthetic: int = 0, image_dir=None,
                 hr_size: int = 192, crop_step: int | None = None, shard_size: int = 64,
                 val_fraction: float = 0.1, seed: int = 0, progress=None) -> dict:
    """Write (or finish writing) a data set folder; return its manifest.

    Parameters
    ----------
    out_dir : path-like
        Destination folder (created). If it already holds a manifest, the parameters
        must match and finished shards are skipped.
    scale : int
        Super-resolution factor the images are for (2, 3 or 4; sets the size checks).
    n_synthetic : int
        Number of synthetic scenes (:func:`learn.synthetic.render_scene`), both splits.
    image_dir : path-like, optional
        Folder of the user's own sharp optical images (TIFF/PNG, grey or RGB), cut into
        ``hr_size`` crops every ``crop_step`` pixels; each image is normalised as a
        whole. Train/val are split by whole image (``val_fraction`` of the files).
    hr_size : int
        Side of each sharp image in HR pixels (a multiple of the scale).
    crop_step : int, optional
        Distance between crops of user images (default ``hr_size``: no overlap).
    shard_size : int
        Images per shard file.
    val_fraction : float
        Fraction held out for validation (synthetic: separate random stream; user
        images: whole files).
    seed : int
        Seed for scenes, crop split and noise.
    progress : callable, optional
        ``progress(1, info=...)``; called once per shard.
    """
    out_dir = Path(out_dir)
    s = _check_scale(scale)
    crop_step = hr_size if crop_step is None else crop_step
    if not (isinstance(crop_step, int) and crop_step >= 1):
        raise OptionError(f"crop_step: must be a positive integer, got {crop_step!r}")
    if not (isinstance(n_synthetic, int) and n_synthetic >= 0):
        raise OptionError(f"n_synthetic: must be an integer >= 0, got {n_synthetic!r}")
    if not (isinstance(hr_size, int) and hr_size >= 4 * s and hr_size % s == 0):
        raise OptionError(f"hr_size: must be a multiple of scale {s} and >= {4 * s}, got {hr_size!r}")
    if not (isinstance(shard_size, int) and shard_size >= 1):
        raise OptionError(f"shard_size: must be a positive integer, got {shard_size!r}")
    if not (0.0 <= val_fraction < 1.0):
        raise OptionError(f"val_fraction: must be in [0, 1), got {val_fraction!r}")
    if n_synthetic == 0 and image_dir is None:
        raise OptionError("sources: give n_synthetic > 0 and/or image_dir")

    items, files = _plan(n_synthetic, image_dir, hr_size, crop_step, val_fraction, seed)
    params = {
        "format_version": FORMAT_VERSION,
        "scale": s,
        "seed": int(seed),
        "hr_size": hr_size,
        "crop_step": crop_step,
        "shard_size": shard_size,
        "val_fraction": float(val_fraction),
        "sources": {"n_synthetic": n_synthetic,
                    "image_dir": None if image_dir is None else Path(image_dir).name,
                    "files": files},
    }
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists():
        old = read_json(manifest_path)
        old_params = {k: old.get(k) for k in params}
        if old_params != params:
            diff = sorted(k for k in params if old_params[k] != params[k])
            raise OptionError(f"{out_dir}: holds a data set made with different parameters "
                             f"({', '.join(diff)}); use a new folder")
    shards = []
    for split in SPLITS:
        lst = items[split]
        for j in range(math.ceil(len(lst) / shard_size)):
            shards.append({"split": split, "file": f"{split}-{j:05d}.npz",
                           "items": lst[j * shard_size:(j + 1) * shard_size],
                           "first_index": j * shard_size})
    manifest = {**params, "code_version": code_version(), "complete": False,
                "counts": {sp: len(items[sp]) for sp in SPLITS},
                "shards": [{"split": sh["split"], "file": sh["file"], "count": len(sh["items"])}
                           for sh in shards]}
    write_json(manifest_path, manifest)

    key = jax.random.PRNGKey(seed)
    cache = {}
    for sh, entry in zip(shards, manifest["shards"]):
        path = out_dir / sh["file"]
        if path.exists() and _shard_ok(path, len(sh["items"])):
            entry["sha256"] = _sha256(path)
            if progress:
                progress(1, info=f"{sh['file']} (kept)")
            continue
        hr = _render_items(key, sh, hr_size, image_dir, cache)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, hr=hr.astype(np.float32))
        entry["sha256"] = _sha256(path)
        if progress:
            progress(1, info=sh["file"])
    manifest["complete"] = True
    write_json(manifest_path, manifest)
    return manifest


def _render_items(key, shard, hr_size, image_dir, cache):
    """The shard's images in order; a shard may hold synthetic scenes and crops both."""
    items = shard["items"]
    syn = [i for i, it in enumerate(items) if it[0] == "synthetic"]
    out = [None] * len(items)
    if syn:
        stream = jax.random.fold_in(key, _SPLIT_ID[shard["split"]])
        raw = np.asarray(render_scenes(stream, [items[i][1] for i in syn], (hr_size, hr_size)))
        for i, x in zip(syn, raw):
            out[i] = normalize(x)[0]
    for i, it in enumerate(items):
        if it[0] == "synthetic":
            continue
        name, y, x = it
        if name not in cache:
            cache.clear()  # keep one decoded image in memory
            cache[name] = normalize(read_grey(Path(image_dir) / name))[0]
        out[i] = cache[name][y:y + hr_size, x:x + hr_size]
    return np.stack(out)


def _shard_ok(path: Path, count: int) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["hr"].shape[0] == count
    except Exception:  # a damaged shard is simply rewritten
        return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_dataset(folder, split: str = "train") -> Dataset:
    """Load one split of a complete data set folder into memory, verifying every shard.

    Each shard must be a plain file name inside ``folder``, match the SHA-256 and count
    the manifest records, hold ``hr`` (n, H, W) of the manifest's size, and be finite.
    Anything else is refused naming the file.
    """
    folder = Path(folder)
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")
    manifest = read_manifest(folder)
    paths = verify_shards(folder, manifest, split=split)
    hrs = []
    hr_size = manifest["hr_size"]
    for entry, path in zip([e for e in manifest["shards"] if e["split"] == split], paths):
        hr = _read_shard(path)
        n = entry["count"]
        if hr.shape != (n, hr_size, hr_size):
            raise ImageFileError(f"{path}: holds hr {hr.shape}; the manifest says {n} images "
                                 f"of {hr_size} px")
        hrs.append(hr)
    if not hrs:
        raise ImageFileError(f"{folder}: has no {split!r} images")
    return Dataset(hr=np.concatenate(hrs), scale=int(manifest["scale"]), manifest=manifest)


def read_manifest(folder) -> dict:
    """``folder/manifest.json`` of a complete data set, its structure checked (not the shards).

    Counts must add up per split; every shard entry needs ``split``, ``file``, ``count`` and
    ``sha256``. Errors name the manifest and the key.
    """
    folder = Path(folder)
    path = folder / "manifest.json"
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise ImageFileError(f"{path}: expected a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ImageFileError(f"{folder}: data set format {manifest.get('format_version')!r} "
                             f"is not {FORMAT_VERSION} (version 1 stored one fixed degradation; "
                             f"re-make it with `twin dataset`)")
    if not manifest.get("complete"):
        raise ImageFileError(f"{folder}: data set is incomplete; re-run `twin dataset` to finish it")
    hr = manifest.get("hr_size")
    if isinstance(hr, bool) or not isinstance(hr, int) or not 1 <= hr <= 65536:
        raise ImageFileError(f"{path}: hr_size: expected a positive integer, got {hr!r}")
    try:
        scale = _check_scale(manifest.get("scale"))
    except ValueError as exc:
        raise ImageFileError(f"{path}: {exc}") from None
    if hr % scale:
        raise ImageFileError(f"{path}: hr_size {hr} is not a multiple of scale {scale}")
    shards, counts = manifest.get("shards"), manifest.get("counts")
    if not isinstance(shards, list) or not isinstance(counts, dict):
        raise ImageFileError(f"{path}: shards/counts: missing or of the wrong type")
    totals = dict.fromkeys(SPLITS, 0)
    for i, entry in enumerate(shards):
        ok = (isinstance(entry, dict) and entry.get("split") in SPLITS
              and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str)
              and isinstance(entry.get("count"), int) and not isinstance(entry.get("count"), bool)
              and entry["count"] >= 1)
        if not ok:
            raise ImageFileError(f"{path}: shards[{i}]: expected split, file, count >= 1 and sha256")
        totals[entry["split"]] += entry["count"]
    if any(counts.get(sp) != totals[sp] for sp in SPLITS):
        raise ImageFileError(f"{path}: counts {counts} disagree with the shards' counts {totals}")
    return manifest


def verify_shards(folder, manifest: dict, *, split: str | None = None) -> list[Path]:
    """Paths of the shards (of ``split``, or all), each confined to ``folder`` and matching the
    SHA-256 the manifest records; streams the files, loads nothing."""
    folder = Path(folder)
    paths = []
    for i, entry in enumerate(manifest["shards"]):
        if split is not None and entry["split"] != split:
            continue
        path = member_path(folder, entry["file"], key=f"{folder / 'manifest.json'}: shards[{i}].file")
        if not path.is_file():
            raise ImageFileError(f"{path}: shard listed in the manifest is missing")
        if _sha256(path) != entry["sha256"]:
            raise ImageFileError(f"{path}: content differs from the manifest's SHA-256 (damaged or "
                                 "edited); re-run `twin dataset` into a new folder")
        paths.append(path)
    return paths


def dataset_digest(manifest: dict) -> str:
    """SHA-256 identifying a data set's content: its parameters and its shards' hashes."""
    import json

    keys = ("format_version", "scale", "seed", "hr_size", "crop_step", "shards")
    text = json.dumps({k: manifest.get(k) for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_shard(path: Path) -> np.ndarray:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            hr = z["hr"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ImageFileError(f"{path}: unreadable shard ({type(exc).__name__})") from None
    if hr.dtype != np.float32 or not np.all(np.isfinite(hr)):
        raise ImageFileError(f"{path}: shard array hr must be finite float32")
    return hr
