"""Shared fixtures for the learn tests.

``physics.measure.noise.normalization_range`` (the product's one intensity
normalisation, owned by physics.measure) may not have landed yet while the parts are
built in parallel. Until it does, a test double implementing the documented contract
(0.5th/99.5th percentiles of the whole image) is installed here so the rest of the
learn tests can run; ``test_intensity.py::test_real_normalization_range_exists`` fails
until the real one exists.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest


def _install_normalization_double():
    try:
        mod = importlib.import_module("physics.measure.noise")
        if hasattr(mod, "normalization_range"):
            return False
    except ImportError:
        mod = types.ModuleType("physics.measure.noise")
        sys.modules["physics.measure.noise"] = mod

    def normalization_range(image):  # test double of the physics.measure contract
        lo, hi = np.percentile(np.asarray(image, dtype=np.float64), [0.5, 99.5])
        return float(lo), float(hi)

    mod.normalization_range = normalization_range
    mod._learn_test_double = True
    return True


NORMALIZATION_IS_DOUBLE = _install_normalization_double()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic data set (s=2, 24 scenes of 48x48) shared by several tests."""
    from learn import Degradation, make_dataset

    out = tmp_path_factory.mktemp("data")
    make_dataset(out, degradation=Degradation(scale=2, blur_sigma_px=1.0, noise_sigma=0.01),
                 n_synthetic=24, hr_size=48, shard_size=8, val_fraction=0.25, seed=3)
    return out
