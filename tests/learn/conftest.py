"""Shared fixtures for the learn tests (small sizes: the whole folder runs in about a minute
on an idle 2-core CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic data set (s=2, 24 scenes of 48x48) shared by several tests."""
    from learn import Degradation, make_dataset

    out = tmp_path_factory.mktemp("data")
    make_dataset(out, degradation=Degradation(scale=2, blur_sigma_px=1.0, noise_sigma=0.01),
                 n_synthetic=24, hr_size=48, shard_size=8, val_fraction=0.25, seed=3)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory):
    """A "tiny" model trained for a few steps on ``tiny_dataset``."""
    from learn import TrainConfig, preset, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    train(tiny_dataset, out, model_config=preset("tiny"),
          train_config=TrainConfig(steps=4, batch_size=4, patch_lr=16, val_every=4, save_every=4))
    return out
