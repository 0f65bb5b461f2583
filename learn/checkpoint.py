"""Checkpoints: a folder with ``checkpoint.json`` (what the model is) and a state file.

Format (safe, no pickle): the state is an ``.npz`` of named arrays (parameters,
optimiser state, RNG key, step), loaded with ``allow_pickle=False``; the JSON holds
the model configuration, scale, the conditioning (inputs, units, encoding, trained
ranges, default blur), the intensity normalisation, training settings and the name of
the current state file. Writing is atomic: the new state file is written under
a temporary name and renamed, then ``checkpoint.json`` (the commit point) is replaced
atomically, then the previous state file is removed. A killed run therefore always
leaves a consistent checkpoint. Loading needs no flags: everything needed to rebuild
the model is in the JSON.

Format version 2 (issue 8) is the degradation-conditioned network. Version 1
checkpoints (a network for one fixed degradation, without conditioning inputs) are
refused with a message saying so: their first layer has another shape and they carry
no trained range, so loading them would need a second inference path.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from physics.errors import InputFileError
from physics.imageio import ImageFileError, atomic_path, member_path, read_json, write_json

from .degrade import MAX_TRAIN_BLUR_PX, DegradationRange
from .model import (CONDITIONING, CONDITIONING_ENCODING, ModelConfig, VDSRTransposed,
                    create_model, parameter_count)

FORMAT = "xray-lens-twin/learn-checkpoint"
FORMAT_VERSION = 2
#: Blur sigma (LR px) :func:`learn.enhance` assumes when none is given: the product's
#: nominal X-ray LSF (the shipped scenarios' measured edge sigma is ~1 LR px).
DEFAULT_BLUR_SIGMA_PX = 1.0
#: How images are normalised before the network, and the units of the noise input.
NORMALISATION = ("each slice: (x - lo) / (hi - lo), lo/hi = its 0.5th/99.5th percentiles "
                 "(physics.measure.noise.normalization_range); noise_sigma is in these units, "
                 "i.e. measured on the normalised LR slice")
CONDITIONING_UNITS = {"blur_sigma_px": "LR (input) pixels, Gaussian sigma",
                      "noise_sigma": "normalised intensity units (see normalisation)"}


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : VDSRTransposed
        The network with its trained parameters.
    config : ModelConfig
    trained_range : DegradationRange
        Blur and noise ranges the model was trained over (its ``scale`` equals
        ``config.scale``).
    default_blur_sigma_px : float
        Blur sigma (LR px) assumed when the caller gives none.
    step : int
        Training steps done.
    info : dict
        The whole ``checkpoint.json`` (training settings, metrics, data set).
    arrays : dict
        Every stored array by name (parameters ``params/...``, ``opt/...``, ``rng``).
    path : Path or None
    """

    model: VDSRTransposed
    config: ModelConfig
    trained_range: DegradationRange
    default_blur_sigma_px: float
    step: int
    info: dict
    arrays: dict = field(repr=False)
    path: Path | None = None

    @property
    def scale(self) -> int:
        return self.config.scale


def flatten(tree, prefix: str) -> dict[str, np.ndarray]:
    """Pytree -> {"prefix/keypath": array}, in a stable order."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {f"{prefix}/{jax.tree_util.keystr(p)}": np.asarray(v) for p, v in leaves}


def unflatten(template, arrays: dict, prefix: str):
    """Fill the structure of ``template`` with ``arrays`` written by :func:`flatten`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for p, v in leaves:
        name = f"{prefix}/{jax.tree_util.keystr(p)}"
        if name not in arrays:
            raise ImageFileError(f"checkpoint: array {name!r} is missing")
        a = arrays[name]
        if a.shape != np.shape(v):
            raise ImageFileError(f"checkpoint: array {name!r} has shape {a.shape}, "
                                 f"expected {np.shape(v)}")
        out.append(jnp.asarray(a, dtype=jnp.asarray(v).dtype))
    return jax.tree_util.tree_unflatten(treedef, out)


def save_checkpoint(folder, *, model: VDSRTransposed, trained_range: DegradationRange,
                    step: int, default_blur_sigma_px: float = DEFAULT_BLUR_SIGMA_PX,
                    arrays: dict | None = None, info: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (see module docstring).

    ``arrays`` adds named arrays beside the parameters (optimiser state, RNG key).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if trained_range.scale != model.config.scale:
        raise ValueError(f"scale: model scale {model.config.scale} != degradation scale "
                         f"{trained_range.scale}")
    params = nnx.state(model, nnx.Param)
    payload = {**flatten(nnx.to_pure_dict(params), "params"), **(arrays or {})}
    state_name = f"state-{int(step):08d}.npz"
    with atomic_path(folder / state_name) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
    json_path = folder / "checkpoint.json"
    old = _previous_state_file(json_path)
    write_json(json_path, {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(), "scale": model.config.scale,
        "conditioning": {"inputs": CONDITIONING_UNITS, "encoding": CONDITIONING_ENCODING,
                         "trained_range": trained_range.to_dict(),
                         "default_blur_sigma_px": float(default_blur_sigma_px)},
        "normalisation": NORMALISATION, "step": int(step), "state_file": state_name,
        **(info or {}),
    })
    if old and old != state_name:
        (folder / old).unlink(missing_ok=True)
    return folder


def _previous_state_file(json_path: Path) -> str | None:
    """The state file the old ``checkpoint.json`` names, if it is one of ours to delete.

    Only a plain ``state-NNNNNNNN.npz`` name in the same folder qualifies: whatever else a
    damaged or hostile ``checkpoint.json`` says, nothing outside the folder is removed.
    """
    import re

    if not json_path.exists():
        return None
    try:
        old = read_json(json_path).get("state_file")
    except (InputFileError, AttributeError):
        return None
    return old if isinstance(old, str) and re.fullmatch(r"state-\d{8}\.npz", old) else None


def validate_info(info, json_path) -> tuple[ModelConfig, DegradationRange, float, Path]:
    """Check a ``checkpoint.json`` (format version 2) before anything is built from it.

    Returns the model configuration, the trained degradation range, the default blur
    sigma (LR px) and the state file's path (a plain name inside the checkpoint folder).
    Raises :class:`InputFileError` naming the file and key for a format-1 checkpoint (with
    what to do), an unknown format, a missing or mistyped key, a conditioning that is not
    this code's (inputs, encoding), a trained range or default blur out of bounds, scales
    that disagree (model, trained range and ``scale``) or a state file outside the folder.
    """
    json_path = Path(json_path)
    if not isinstance(info, dict):
        raise InputFileError(f"{json_path}: expected a JSON object, got {type(info).__name__}")
    if info.get("format") == FORMAT and info.get("format_version") == 1:
        raise InputFileError(f"{json_path}: format version 1 (a network for one fixed "
                             f"degradation, without blur/noise inputs) is no longer supported; "
                             f"train a conditioned one with `twin train`")
    if info.get("format") != FORMAT or info.get("format_version") != FORMAT_VERSION:
        raise InputFileError(f"{json_path}: unknown checkpoint format "
                             f"{info.get('format')!r} v{info.get('format_version')!r}")
    _check_keys(json_path, "", info, (("model", dict), ("conditioning", dict), ("step", int),
                                      ("state_file", str), ("scale", int),
                                      ("normalisation", str)))
    if info["step"] < 0:
        raise InputFileError(f"{json_path}: step: expected an integer >= 0, got {info['step']}")
    cond = info["conditioning"]
    _check_keys(json_path, "conditioning.", cond, (("inputs", dict), ("encoding", str),
                                                   ("trained_range", dict),
                                                   ("default_blur_sigma_px", (int, float))))
    if sorted(cond["inputs"]) != sorted(CONDITIONING):
        raise InputFileError(f"{json_path}: conditioning.inputs: expected the inputs "
                             f"{list(CONDITIONING)}, got {sorted(cond['inputs'])}")
    if cond["encoding"] != CONDITIONING_ENCODING:
        raise InputFileError(f"{json_path}: conditioning.encoding: {cond['encoding']!r} "
                             f"is not this code's {CONDITIONING_ENCODING!r}")
    default_blur = float(cond["default_blur_sigma_px"])
    if not (math.isfinite(default_blur) and 0 < default_blur <= MAX_TRAIN_BLUR_PX):
        raise InputFileError(f"{json_path}: conditioning.default_blur_sigma_px: expected a "
                             f"number in (0, {MAX_TRAIN_BLUR_PX:g}], got {default_blur!r}")
    try:
        config = ModelConfig.from_dict(info["model"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(f"{json_path}: model: {exc}") from None
    _check_keys(json_path, "conditioning.trained_range.", cond["trained_range"],
                (("scale", int), ("blur_sigma_px", list), ("noise_sigma", list)))
    try:
        trained_range = DegradationRange.from_dict(cond["trained_range"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(f"{json_path}: conditioning.trained_range: {exc}") from None
    if not (info["scale"] == config.scale == trained_range.scale):
        raise InputFileError(f"{json_path}: scale: the model is for x{config.scale}, the trained "
                             f"range for x{trained_range.scale} and scale says x{info['scale']}; "
                             "they must agree")
    name = info["state_file"]
    if Path(name).name != name:
        raise InputFileError(f"{json_path}: state_file: {name!r} is not a plain file name")
    state_path = member_path(json_path.parent, name, key=f"{json_path}: state_file")
    return config, trained_range, default_blur, state_path


def _check_keys(json_path, prefix: str, table: dict, spec) -> None:
    """Each ``(key, type)`` of ``spec`` present in ``table`` with that type (bool is no number)."""
    for key, kind in spec:
        if key not in table:
            raise InputFileError(f"{json_path}: {prefix}{key}: missing")
        value = table[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputFileError(f"{json_path}: {prefix}{key}: expected {names}, "
                                 f"got {type(value).__name__}")


def _check_size(config: ModelConfig, arrays: dict, json_path) -> None:
    """Refuse a configuration whose parameter count differs from the stored one before building it.

    Building a model from an edited ``checkpoint.json`` (e.g. width 100000) would allocate
    9 width^2 (depth - 1) weights before the arrays are compared, so the count is compared
    first (:func:`learn.model.parameter_count`).
    """
    stored = sum(int(a.size) for k, a in arrays.items() if k.startswith("params/"))
    expected = parameter_count(config)
    if expected != stored:
        raise InputFileError(f"{json_path}: model: depth {config.depth} x width {config.width} "
                             f"has {expected} parameters; the state file holds {stored}")


def _finite_arrays(arrays: dict, state_path) -> None:
    for name, a in arrays.items():
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            raise InputFileError(f"{state_path}: array {name!r} holds NaN or inf; the checkpoint "
                                 "is damaged (or its training diverged)")


def load_checkpoint(path) -> Checkpoint:
    """Load a checkpoint folder (or its ``checkpoint.json``) written by :func:`save_checkpoint`."""
    path = Path(path)
    folder = path.parent if path.name == "checkpoint.json" else path
    json_path = folder / "checkpoint.json"
    if not json_path.is_file():
        raise ImageFileError(f"{path}: not a checkpoint (no checkpoint.json)")
    info = read_json(json_path)
    config, trained_range, default_blur, state_path = validate_info(info, json_path)
    if not state_path.is_file():
        raise ImageFileError(f"{state_path}: state file named in checkpoint.json is missing")
    try:
        with np.load(state_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # numpy/zipfile raise many types for damaged archives
        raise ImageFileError(f"{state_path}: unreadable state file ({type(exc).__name__})") from None
    _finite_arrays(arrays, state_path)
    _check_size(config, arrays, json_path)
    model = create_model(config)
    params = nnx.state(model, nnx.Param)
    restored = unflatten(nnx.to_pure_dict(params), arrays, "params")
    nnx.replace_by_pure_dict(params, restored)
    nnx.update(model, params)
    return Checkpoint(model=model, config=config, trained_range=trained_range,
                      default_blur_sigma_px=default_blur,
                      step=int(info["step"]), info=info, arrays=arrays, path=folder)


def default_checkpoint_path() -> Path:
    """The checkpoint shipped with the package (``learn/default_checkpoint``)."""
    return Path(__file__).resolve().parent / "default_checkpoint"


def resolve_checkpoint(checkpoint) -> Checkpoint:
    """Accept a :class:`Checkpoint`, a path, or None (the shipped default)."""
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    if checkpoint is None:
        checkpoint = default_checkpoint_path()
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ValueError(f"checkpoint: expected a path or Checkpoint, got {type(checkpoint).__name__}")
    return load_checkpoint(checkpoint)
