"""Shared fixtures for the learn tests (small sizes: the whole folder runs in about a minute
on an idle 2-core CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic data set (s=2, 24 scenes of 96x96) shared by several tests.

    96 px holds a 16 px LR patch plus the 14 px degradation margins each side (x2)."""
    from learn import make_dataset

    out = tmp_path_factory.mktemp("data")
    make_dataset(out, scale=2, n_synthetic=24, hr_size=96, shard_size=8, val_fraction=0.25, seed=3)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory):
    """A "tiny" model trained for a few steps on ``tiny_dataset``."""
    from learn import TrainConfig, preset, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    train(tiny_dataset, out, model_config=preset("tiny"),
          train_config=TrainConfig(steps=4, batch_size=4, patch_lr=16, val_every=4, save_every=4))
    return out
