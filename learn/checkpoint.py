"""Checkpoints: a folder with ``checkpoint.json`` (what the model is) and a state file.

Format (safe, no pickle): the state is an ``.npz`` of named arrays (parameters,
optimiser state, RNG key, step), loaded with ``allow_pickle=False``; the JSON holds
the model configuration, scale, degradation parameters, training settings and the
name of the current state file. Writing is atomic: the new state file is written under
a temporary name and renamed, then ``checkpoint.json`` (the commit point) is replaced
atomically, then the previous state file is removed. A killed run therefore always
leaves a consistent checkpoint. Loading needs no flags: everything needed to rebuild
the model is in the JSON.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from physics.errors import InputFileError
from physics.imageio import ImageFileError, atomic_path, member_path, read_json, write_json

from .degrade import Degradation
from .model import ModelConfig, VDSRTransposed, create_model

FORMAT = "xray-lens-twin/learn-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : VDSRTransposed
        The network with its trained parameters.
    config : ModelConfig
    degradation : Degradation
        The degradation the model was trained for (its ``scale`` equals ``config.scale``).
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
    degradation: Degradation
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


def save_checkpoint(folder, *, model: VDSRTransposed, degradation: Degradation, step: int,
                    arrays: dict | None = None, info: dict | None = None) -> Path:
    """Write a checkpoint folder atomically (see module docstring).

    ``arrays`` adds named arrays beside the parameters (optimiser state, RNG key).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if degradation.scale != model.config.scale:
        raise ValueError(f"scale: model scale {model.config.scale} != degradation scale "
                         f"{degradation.scale}")
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
        "degradation": degradation.to_dict(), "step": int(step), "state_file": state_name,
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


def validate_info(info, json_path) -> tuple[ModelConfig, Degradation, Path]:
    """Check a ``checkpoint.json`` before anything is built from it.

    Returns the model configuration, the degradation and the state file's path (a plain
    name inside the checkpoint folder). Raises :class:`InputFileError` naming the file
    and key for a missing or mistyped key, an unknown format, a state file outside the
    folder, or scales that disagree (model, degradation and ``scale``).
    """
    json_path = Path(json_path)
    if not isinstance(info, dict):
        raise InputFileError(f"{json_path}: expected a JSON object, got {type(info).__name__}")
    if info.get("format") != FORMAT or info.get("format_version") != FORMAT_VERSION:
        raise InputFileError(f"{json_path}: unknown checkpoint format "
                             f"{info.get('format')!r} v{info.get('format_version')!r}")
    for key, kind in (("model", dict), ("degradation", dict), ("step", int), ("state_file", str),
                      ("scale", int)):
        if key not in info:
            raise InputFileError(f"{json_path}: {key}: missing")
        if not isinstance(info[key], kind) or isinstance(info[key], bool):
            raise InputFileError(f"{json_path}: {key}: expected {kind.__name__}, "
                                 f"got {type(info[key]).__name__}")
    if info["step"] < 0:
        raise InputFileError(f"{json_path}: step: expected an integer >= 0, got {info['step']}")
    try:
        config = ModelConfig.from_dict(info["model"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(f"{json_path}: model: {exc}") from None
    try:
        degradation = Degradation.from_dict(info["degradation"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InputFileError(f"{json_path}: degradation: {exc}") from None
    if not (info["scale"] == config.scale == degradation.scale):
        raise InputFileError(f"{json_path}: scale: the model is for x{config.scale}, the degradation "
                             f"for x{degradation.scale} and scale says x{info['scale']}; they must agree")
    name = info["state_file"]
    if Path(name).name != name:
        raise InputFileError(f"{json_path}: state_file: {name!r} is not a plain file name")
    state_path = member_path(json_path.parent, name, key=f"{json_path}: state_file")
    return config, degradation, state_path


def _check_size(config: ModelConfig, arrays: dict, json_path) -> None:
    """Refuse a configuration far larger than the stored parameters before building it.

    A VDSR body has about 9 width^2 (depth - 2) weights; building a model from an
    edited ``checkpoint.json`` (e.g. width 100000) would allocate that much before the
    arrays are compared, so the count is compared first.
    """
    stored = sum(int(a.size) for k, a in arrays.items() if k.startswith("params/"))
    expected = 9 * config.width * (config.width * max(config.depth - 2, 0) + 2)
    if expected > 2 * stored + 1_000_000:
        raise InputFileError(f"{json_path}: model: depth {config.depth} x width {config.width} "
                             f"does not match the {stored} parameters of the state file")


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
    config, degradation, state_path = validate_info(info, json_path)
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
    return Checkpoint(model=model, config=config, degradation=degradation, step=int(info["step"]),
                      info=info, arrays=arrays, path=folder)


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
