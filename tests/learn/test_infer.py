"""Inference: tiled == untiled, dtype range kept, 2D and 3D, conditioning chosen and reported."""

import warnings

import jax
import numpy as np
import pytest

from learn import OutOfRangeWarning, apply_tiled, enhance, load_checkpoint
from learn.intensity import normalize
from physics.imageio import ImageFileError


def test_tiled_equals_untiled(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    lr = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (37, 29)))
    whole = np.asarray(ck.model(lr, 1.2, 0.02))
    tiled = apply_tiled(ck, lr, blur_sigma=1.2, noise_sigma=0.02, tile=8)  # 5 x 4 tiles
    assert tiled.shape == (74, 58)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Too little context must show at the seams: the margin is what makes them equal.
    cut = apply_tiled(ck, lr, blur_sigma=1.2, noise_sigma=0.02, tile=8, margin=0)
    assert np.abs(cut - whole).max() > 1e-4


def test_self_ensemble_is_the_mean_over_the_eight_orientations(tiny_checkpoint):
    from learn.infer import DIHEDRAL, dihedral_average

    ck = load_checkpoint(tiny_checkpoint)
    lr = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (12, 18)), np.float32)
    one = enhance(lr, ck, noise_sigma=0.02, self_ensemble=False)
    avg = enhance(lr, ck, noise_sigma=0.02)  # the default, as `twin enhance` runs it
    # by hand: each orientation through the single pass, turned back, averaged
    outs = []
    for k, flip in DIHEDRAL:
        t = np.rot90(lr[:, ::-1] if flip else lr, k)
        y = np.rot90(enhance(np.ascontiguousarray(t), ck, noise_sigma=0.02, self_ensemble=False), -k)
        outs.append(y[:, ::-1] if flip else y)
    assert len({(k, f) for k, f in DIHEDRAL}) == 8
    np.testing.assert_allclose(avg, np.mean(outs, axis=0), atol=1e-5)
    assert np.abs(avg - one).max() > 1e-4  # the network is not exactly equivariant
    # an equivariant map (pixel replication) is unchanged by the averaging
    rep = dihedral_average(lambda x: np.kron(x, np.ones((2, 2))), lr)
    np.testing.assert_allclose(rep, np.kron(lr, np.ones((2, 2))), atol=1e-6)


def test_enhance_keeps_dtype_range_and_handles_stacks(tiny_checkpoint):
    rng = np.random.default_rng(0)
    img16 = rng.integers(1000, 60000, (3, 20, 24), dtype=np.uint16)
    out = enhance(img16, tiny_checkpoint, noise_sigma=0.01, tile=16)
    assert out.shape == (3, 40, 48) and out.dtype == np.uint16
    one = enhance(img16[1], tiny_checkpoint, noise_sigma=0.01, tile=16)
    np.testing.assert_array_equal(one, out[1])
    f = enhance(img16[0].astype(np.float32) * 1e-3, tiny_checkpoint, noise_sigma=0.01)
    assert f.dtype == np.float32
    # Linear in intensity: the map back undoes the normalisation; uint16 is rounded and
    # clipped to its range, float is not.
    np.testing.assert_allclose(out[0], np.clip(np.rint(f * 1e3), 0, 65535), atol=1.0)


def test_noise_is_estimated_in_normalised_units_whatever_the_contrast(tiny_checkpoint):
    # The same scene at full and at 1/4 contrast with the same grey-level noise: in the
    # normalised units the network is fed, the low-contrast image is ~4x noisier, and
    # the estimate (made after normalisation) says so.
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:48]
    scene = 0.5 + 0.4 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    noise = rng.normal(0, 0.01, scene.shape)
    _, full = enhance(scene + noise, tiny_checkpoint, return_info=True)
    _, low = enhance(0.3 + 0.25 * (scene - 0.5) + noise, tiny_checkpoint, return_info=True)
    assert low[0]["noise_sigma"] / full[0]["noise_sigma"] == pytest.approx(4.0, rel=0.15)
    assert full[0]["noise_source"] == "estimated from the image"
    assert full[0]["blur_source"] == "checkpoint default"
    norm = normalize(scene + noise)[0]
    lo, hi = np.percentile(scene + noise, [0.5, 99.5])
    assert full[0]["noise_sigma"] == pytest.approx(0.01 / (hi - lo), rel=0.15)
    assert norm.std() > 0


def test_given_values_are_used_and_out_of_range_ones_clamped_with_a_warning(tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (24, 24)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in range: no warning at all
        _, info = enhance(x, ck, blur_sigma=1.7, noise_sigma=0.03, return_info=True)
    assert (info[0]["blur_sigma_px"], info[0]["noise_sigma"]) == (1.7, 0.03)
    assert info[0]["noise_source"] == "given"
    lo, hi = ck.trained_range.blur_sigma_px
    with pytest.warns(OutOfRangeWarning, match="blur_sigma_px 9 LR px is outside"):
        out, info = enhance(x, ck, blur_sigma=9.0, noise_sigma=0.03, return_info=True)
    assert info[0]["blur_sigma_px"] == hi
    np.testing.assert_array_equal(out, enhance(x, ck, blur_sigma=hi, noise_sigma=0.03))
    with pytest.warns(OutOfRangeWarning, match="noise_sigma 0.0001 .* is outside"):
        _, info = enhance(x, ck, blur_sigma=1.0, noise_sigma=1e-4, return_info=True)
    assert info[0]["noise_sigma"] == ck.trained_range.noise_sigma[0]
    # Noise above the range: the slice is normalised over a wider range instead, so
    # the network is told the truth (noise = range maximum in the units it is fed).
    top = ck.trained_range.noise_sigma[1]
    with pytest.warns(OutOfRangeWarning, match="normalised over a 2x wider range"):
        y, info = enhance(x, ck, blur_sigma=1.0, noise_sigma=2 * top, self_ensemble=False,
                          return_info=True)
    assert (info[0]["noise_sigma"], info[0]["range_factor"]) == (top, 2.0)
    # Equivalent by hand: widen lo/hi about their centre, run the network, map back.
    lo, hi = np.percentile(x.astype(np.float64), [0.5, 99.5])
    mid, half = (lo + hi) / 2, (hi - lo)
    by_hand = apply_tiled(ck, ((x - (mid - half)) / (2 * half)).astype(np.float32),
                          blur_sigma=1.0, noise_sigma=top) * (2 * half) + (mid - half)
    np.testing.assert_allclose(y, by_hand, atol=1e-5)
    # The conditioning matters: a different noise gives a different image.
    a = enhance(x, ck, blur_sigma=1.0, noise_sigma=0.005)
    b = enhance(x, ck, blur_sigma=1.0, noise_sigma=0.05)
    assert np.abs(a - b).max() > 1e-5


@pytest.mark.parametrize("image, kw, match", [
    (np.ones((1, 1)), {}, "at least 2x2"),
    (np.ones((4, 1, 7)), {}, "at least 2x2"),
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), {}, "NaN"),
    (np.ones((2, 3, 4, 5)), {}, "2D image or 3D stack"),
    (np.zeros((8, 8)), {}, "flat image"),
    (np.arange(64.0).reshape(8, 8), {}, "too small to estimate its noise"),
    (np.arange(64.0).reshape(8, 8), {"noise_sigma": -1.0}, "noise_sigma: must be"),
    (np.arange(64.0).reshape(8, 8), {"noise_sigma": 0.01, "blur_sigma": float("nan")}, "blur_sigma"),
])
def test_bad_images(tiny_checkpoint, image, kw, match):
    with pytest.raises(ValueError, match=match):
        enhance(image, tiny_checkpoint, **kw)


def test_unknown_checkpoint(tmp_path):
    with pytest.raises(ImageFileError, match="not a checkpoint"):
        enhance(np.ones((8, 8)), tmp_path / "nowhere")
