"""Training: loss decreases, checkpoint round trip, exact resume, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import json

from learn import (Degradation, DegradationRange, TrainConfig, create_model, load_checkpoint,
                   preset, save_checkpoint, train)
from physics.imageio import ImageFileError

CFG = dict(batch_size=4, patch_lr=16, val_every=3, save_every=3)


def test_few_steps_lower_the_loss(tiny_dataset, tmp_path):
    from learn.dataset import load_dataset
    from learn.train import make_optimizer, make_train_step
    from flax import nnx

    cfg = TrainConfig(steps=25, learning_rate=1e-2, decay="none", **CFG)
    ds = load_dataset(tiny_dataset)
    graphdef, state = nnx.split(create_model(preset("tiny")), nnx.Param)
    params, tx = nnx.to_pure_dict(state), make_optimizer(cfg)
    opt = tx.init(params)
    step = make_train_step(graphdef, tx, cfg, DegradationRange(2))
    rng = jax.random.PRNGKey(0)
    fixed = 0  # the same batch every time, so the loss must fall
    losses = []
    for _ in range(25):
        params, opt, loss = step(params, opt, rng, fixed, ds.hr)
        losses.append(float(loss))
    assert losses[-1] < 0.95 * losses[0]
    assert all(b < a for a, b in zip(losses[::5], losses[5::5]))


def test_checkpoint_round_trip(tmp_path):
    m = create_model(preset("tiny", scale=3), seed=5)
    rng = DegradationRange(3, (0.6, 2.0), (0.003, 0.05))
    save_checkpoint(tmp_path / "c", model=m, trained_range=rng, step=7, default_blur_sigma_px=1.3,
                    info={"note": "x"})
    ck = load_checkpoint(tmp_path / "c")
    assert (ck.scale, ck.step, ck.trained_range, ck.default_blur_sigma_px, ck.info["note"]) == \
        (3, 7, rng, 1.3, "x")
    x = jax.random.uniform(jax.random.PRNGKey(0), (9, 11))
    for b, n in ((1.0, 0.01), (2.0, 0.04)):
        np.testing.assert_array_equal(np.asarray(ck.model(x, b, n)), np.asarray(m(x, b, n)))
    # The JSON says what the inputs are, their units, and how images are normalised.
    info = json.loads((tmp_path / "c" / "checkpoint.json").read_text())
    assert set(info["conditioning"]["inputs"]) == {"blur_sigma_px", "noise_sigma"}
    assert info["conditioning"]["trained_range"]["noise_sigma"] == [0.003, 0.05]
    assert "99.5" in info["normalisation"]
    # Re-saving replaces the state file (one state file, named in checkpoint.json).
    save_checkpoint(tmp_path / "c", model=m, trained_range=rng, step=8)
    assert [p.name for p in (tmp_path / "c").glob("state-*.npz")] == ["state-00000008.npz"]


def test_unconditioned_version_1_checkpoints_are_refused_clearly(tmp_path):
    (tmp_path / "checkpoint.json").write_text(json.dumps(
        {"format": "xray-lens-twin/learn-checkpoint", "format_version": 1, "model": {},
         "degradation": {"scale": 2, "blur_sigma_px": 1.0, "noise_sigma": 0.01}}))
    with pytest.raises(ImageFileError, match="format version 1.*without blur/noise inputs"):
        load_checkpoint(tmp_path)


def test_shipped_checkpoint_records_its_conditioning_and_no_machine_path():
    from learn import default_checkpoint_path

    text = (default_checkpoint_path() / "checkpoint.json").read_text()
    assert "/tmp" not in text and "/work" not in text and "/home" not in text
    ck = load_checkpoint(default_checkpoint_path())
    # issue 8's minimum trained ranges
    assert ck.trained_range.blur_sigma_px[0] <= 0.5 and ck.trained_range.blur_sigma_px[1] >= 2.5
    assert ck.trained_range.noise_sigma[0] <= 0.002 and ck.trained_range.noise_sigma[1] >= 0.08
    assert ck.scale == 2 and ck.default_blur_sigma_px == 1.0


def test_resume_equals_uninterrupted_run(tiny_dataset, tmp_path):
    cfg = TrainConfig(steps=6, **CFG)
    full = train(tiny_dataset, tmp_path / "full", model_config=preset("tiny"), train_config=cfg)

    class Killed(Exception):
        pass

    def kill_at_4(n, info, _count=[0]):
        _count[0] += 1
        if _count[0] == 4:  # after the step-3 checkpoint and one more unsaved step
            raise Killed

    with pytest.raises(Killed):
        train(tiny_dataset, tmp_path / "cut", model_config=preset("tiny"), train_config=cfg,
              progress=kill_at_4)
    assert load_checkpoint(tmp_path / "cut").step == 3
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(tiny_dataset, tmp_path / "cut", model_config=preset("tiny"), train_config=cfg)
    resumed = train(tiny_dataset, tmp_path / "cut", model_config=preset("tiny"), train_config=cfg,
                    resume=True)
    assert resumed["step"] == full["step"] == 6
    a, b = load_checkpoint(tmp_path / "full").arrays, load_checkpoint(tmp_path / "cut").arrays
    assert sorted(a) == sorted(b) and any(k.startswith("opt/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert resumed["loss"] == full["loss"]


def test_bad_training_input(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="scale: model scale 3 does not match"):
        train(tiny_dataset, tmp_path / "x", model_config=preset("tiny", scale=3),
              train_config=TrainConfig(steps=1, **CFG))
    with pytest.raises(ValueError, match="no checkpoint to resume"):
        train(tiny_dataset, tmp_path / "y", model_config=preset("tiny"),
              train_config=TrainConfig(steps=1, **CFG), resume=True)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="huber")
    with pytest.raises(ImageFileError, match="file not found"):
        train(tmp_path / "nodata", tmp_path / "z")


def test_unknown_checkpoint_files(tmp_path):
    with pytest.raises(ImageFileError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text('{"format": "something-else"}')
    with pytest.raises(ImageFileError, match="unknown checkpoint format"):
        load_checkpoint(tmp_path)


def test_fine_tuning_starts_from_the_given_checkpoint(tiny_dataset, tiny_checkpoint, tmp_path):
    start = load_checkpoint(tiny_checkpoint)
    # A vanishing learning rate: after one step the parameters are still the initial ones.
    cfg = TrainConfig(steps=1, **{**CFG, "learning_rate": 1e-12})
    fixed = DegradationRange.fixed(Degradation(2, 1.3, 0.02))  # the paper's protocol
    train(tiny_dataset, tmp_path / "ft", model_config=start.config, train_config=cfg, init=start,
          degradations=fixed)
    tuned = load_checkpoint(tmp_path / "ft")
    assert tuned.trained_range == fixed
    params = [k for k in start.arrays if k.startswith("params/")]
    assert params
    for k in params:
        np.testing.assert_allclose(tuned.arrays[k], start.arrays[k], atol=1e-6, err_msg=k)
    assert tuned.info["init"] == start.path.name
    # A fresh model with the same settings is far from the checkpoint.
    fresh = train(tiny_dataset, tmp_path / "fresh", model_config=start.config, train_config=cfg)
    far = load_checkpoint(tmp_path / "fresh").arrays
    assert any(not np.allclose(far[k], start.arrays[k], atol=1e-3) for k in params)
    with pytest.raises(ValueError, match="init: checkpoint model"):
        other = type(start.config)(scale=start.config.scale, depth=start.config.depth + 1,
                                   width=start.config.width)
        train(tiny_dataset, tmp_path / "bad", model_config=other, train_config=cfg, init=start)
    assert fresh["step"] == 1


def test_low_contrast_augmentation_scales_patches_about_their_mean():
    from learn.degrade import DegradationRange
    from learn.train import MIN_CONTRAST_FACTOR, sample_batch

    rng = np.random.default_rng(0)
    hr = jnp.asarray(rng.uniform(size=(4, 80, 80)), jnp.float32)
    # (almost) no noise, so the LR input scales with the target
    deg = DegradationRange(scale=2, blur_sigma_px=(1.0, 1.0), noise_sigma=(1e-6, 1e-6))
    key = jax.random.PRNGKey(3)
    kw = dict(batch_size=32, patch_lr=8, scale=2, degradations=deg)
    lr0, y0, *_ = sample_batch(key, hr, **kw)
    lr1, y1, *_ = sample_batch(key, hr, low_contrast=1.0, **kw)
    lrh, yh, *_ = sample_batch(key, hr, low_contrast=0.5, **kw)
    # the same patches (same key); every one scaled by a factor in [0.1, 1] about its mean
    ratio = np.asarray(jnp.std(y1, axis=(1, 2)) / jnp.std(y0, axis=(1, 2)))
    assert np.all(ratio >= MIN_CONTRAST_FACTOR - 1e-4) and np.all(ratio <= 1 + 1e-4)
    assert ratio.min() < 0.3 and ratio.max() > 0.7  # spread over the range
    # means are kept up to the margins cut after the scaling (the window is larger than the target)
    assert np.max(np.abs(np.mean(y1, axis=(1, 2)) - np.mean(y0, axis=(1, 2)))) < 0.05
    lr_ratio = np.asarray(jnp.std(lr1, axis=(1, 2)) / jnp.std(lr0, axis=(1, 2)))
    np.testing.assert_allclose(lr_ratio, ratio, rtol=0.05)  # input and target alike
    unchanged = np.isclose(np.asarray(jnp.std(yh, axis=(1, 2)) / jnp.std(y0, axis=(1, 2))), 1.0, atol=1e-5)
    assert 0.2 < unchanged.mean() < 0.8  # about half the patches keep their contrast
