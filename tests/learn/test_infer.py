"""Inference: tiled == untiled, dtype range kept, 2D and 3D, bad input."""

import jax
import numpy as np
import pytest

from learn import apply_tiled, enhance, load_checkpoint
from physics.imageio import ImageFileError


def test_tiled_equals_untiled(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    lr = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (37, 29)))
    whole = np.asarray(ck.model(lr))
    tiled = apply_tiled(ck, lr, tile=8)  # 5 x 4 tiles with shifted border windows
    assert tiled.shape == (74, 58)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Too little context must show at the seams: the margin is what makes them equal.
    cut = apply_tiled(ck, lr, tile=8, margin=0)
    assert np.abs(cut - whole).max() > 1e-4


def test_enhance_keeps_dtype_range_and_handles_stacks(tiny_checkpoint):
    rng = np.random.default_rng(0)
    img16 = rng.integers(1000, 60000, (3, 20, 24), dtype=np.uint16)
    out = enhance(img16, tiny_checkpoint, tile=16)
    assert out.shape == (3, 40, 48) and out.dtype == np.uint16
    one = enhance(img16[1], tiny_checkpoint, tile=16)
    np.testing.assert_array_equal(one, out[1])
    f = enhance(img16[0].astype(np.float32) * 1e-3, tiny_checkpoint)
    assert f.dtype == np.float32
    # Linear in intensity: the map back undoes the normalisation; uint16 is rounded and
    # clipped to its range, float is not.
    np.testing.assert_allclose(out[0], np.clip(np.rint(f * 1e3), 0, 65535), atol=1.0)


def test_enhance_default_checkpoint_exists():
    from learn import default_checkpoint_path

    ck = load_checkpoint(default_checkpoint_path())
    assert ck.scale == 2 and ck.step > 0


@pytest.mark.parametrize("image, match", [
    (np.ones((1, 1)), "at least 2x2"),
    (np.ones((4, 1, 7)), "at least 2x2"),
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), "NaN"),
    (np.ones((2, 3, 4, 5)), "2D image or 3D stack"),
    (np.zeros((8, 8)), "flat image"),
])
def test_bad_images(tiny_checkpoint, image, match):
    with pytest.raises(ValueError, match=match):
        enhance(image, tiny_checkpoint)


def test_unknown_checkpoint(tmp_path):
    with pytest.raises(ImageFileError, match="not a checkpoint"):
        enhance(np.ones((8, 8)), tmp_path / "nowhere")
