"""Evaluation: baselines behave, scale mismatch is refused, result structure."""

import jax
import numpy as np
import pytest

from learn import Degradation, evaluate, gaussian_blur, heldout_synthetic, psnr, ssim, wiener_deconvolve


def test_metrics_reference_values():
    x = np.zeros((16, 16), np.float32)
    assert float(psnr(x + 0.1, x)) == pytest.approx(20.0, rel=1e-5)  # 10 log10(1/0.01)
    assert float(ssim(x + 0.5, x + 0.5)) == pytest.approx(1.0, abs=1e-6)
    noisy = x + np.asarray(jax.random.normal(jax.random.PRNGKey(0), x.shape)) * 0.2
    assert float(ssim(noisy, x + 0.3)) < 0.5


def test_wiener_undoes_a_known_blur():
    hr = heldout_synthetic(2, size=64, seed=1)
    blurred = np.asarray(gaussian_blur(hr, 2.0))
    restored = wiener_deconvolve(blurred, 2.0, 1e-3)
    assert float(psnr(restored, hr, shave=4).mean()) > float(psnr(blurred, hr, shave=4).mean()) + 1
    # With the wrong (much larger) blur the "restoration" rings and gets worse.
    wrong = wiener_deconvolve(blurred, 5.0, 1e-3)
    assert float(psnr(wrong, hr, shave=4).mean()) < float(psnr(restored, hr, shave=4).mean())


def test_heldout_scenes_are_not_training_scenes():
    from learn.synthetic import render_scenes
    from learn.intensity import normalize

    test = heldout_synthetic(2, size=32, seed=0)
    train0 = normalize(np.asarray(render_scenes(jax.random.fold_in(jax.random.PRNGKey(0), 0),
                                                [0], (32, 32)))[0])[0]
    assert not np.allclose(test[0], train0)


def test_evaluate_table_and_scale_mismatch(tiny_checkpoint):
    hr = {"photo_a": heldout_synthetic(1, size=64, seed=0)[0],
          "micro_b": heldout_synthetic(1, size=64, seed=1)[0][:62, :60]}
    r = evaluate(tiny_checkpoint, hr, degradation=Degradation(2, 1.0, 0.01))
    assert set(r["methods"]) == {"bicubic", "wiener", "network"}
    assert [x["name"] for x in r["images"]] == ["photo_a", "micro_b"]
    assert set(r["categories"]) == {"photo", "micro"}
    assert r["gain_db"] == pytest.approx(r["methods"]["network"]["psnr_db"]
                                         - r["methods"]["bicubic"]["psnr_db"])
    assert r["min_gain_db"] == pytest.approx(min(x["gain_db"] for x in r["images"]))
    # Given nothing: the noise is estimated, the blur is the checkpoint's default.
    assert all(x["noise_source"] == "estimated from the image" for x in r["images"])
    # Wiener with (sigma, k) tuned on the set is better than bicubic here.
    assert r["methods"]["wiener"]["psnr_db"] > r["methods"]["bicubic"]["psnr_db"]
    informed = evaluate(tiny_checkpoint, hr, degradation=Degradation(2, 1.0, 0.01), informed=True)
    assert all(x["noise_source"] == "given" for x in informed["images"])
    with pytest.raises(ValueError, match="checkpoint is for scale 2.*scale 4"):
        evaluate(tiny_checkpoint, heldout_synthetic(1, size=32), degradation=Degradation(4, 1.0, 0.01))
