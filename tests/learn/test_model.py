"""The network: shapes, transposed-convolution alignment, checkerboard-free initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learn import ModelConfig, create_model, preset
from learn.model import bicubic_up, bilinear_kernel, conv_transpose, flops_per_lr_pixel


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shapes(scale):
    m = create_model(ModelConfig(scale=scale, depth=3, width=4))
    assert m(jnp.zeros((5, 7))).shape == (5 * scale, 7 * scale)
    assert m(jnp.zeros((2, 5, 7))).shape == (2, 5 * scale, 7 * scale)
    assert m(jnp.zeros((2, 5, 7, 1))).shape == (2, 5 * scale, 7 * scale, 1)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_transposed_conv_with_bilinear_kernel_is_aligned_interpolation(scale):
    # On a linear ramp, any correctly aligned interpolation reproduces the HR ramp,
    # so the bilinear transposed convolution must equal bicubic up-sampling there.
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    x = jnp.asarray(0.3 * yy + 0.7 * xx)[None, :, :, None]
    k = bilinear_kernel(scale)
    up = conv_transpose(x, jnp.asarray(np.outer(k, k)[:, :, None, None]), scale)
    ref = bicubic_up(x, scale)
    b = 2 * scale
    np.testing.assert_allclose(up[0, b:-b, b:-b, 0], ref[0, b:-b, b:-b, 0], atol=1e-4)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_initial_transposed_conv_has_no_checkerboard(scale):
    # Constant features must give a constant output (all s*s phases weighted equally).
    m = create_model(ModelConfig(scale=scale, depth=2, width=6), seed=1)
    y = m.up(jnp.ones((1, 12, 12, 6)))[0, :, :, 0]
    inner = y[3 * scale:-3 * scale, 3 * scale:-3 * scale]
    assert float(jnp.abs(inner).max()) > 0
    np.testing.assert_allclose(inner, inner[0, 0], rtol=1e-5)


def test_initial_model_is_close_to_bicubic():
    m = create_model(preset("tiny"), seed=0)
    x = jax.random.uniform(jax.random.PRNGKey(0), (24, 24))
    diff = m(x) - bicubic_up(x[None, :, :, None], 2)[0, :, :, 0]
    assert float(jnp.abs(diff).mean()) < 0.05


def test_presets_and_validation():
    assert (preset("vdsr").depth, preset("vdsr").width) == (20, 64)  # Kim et al. 2016
    assert flops_per_lr_pixel(preset("vdsr")) > flops_per_lr_pixel(preset("default"))
    with pytest.raises(ValueError, match="preset: unknown"):
        preset("huge")
    with pytest.raises(ValueError, match="scale"):
        ModelConfig(scale=8)
    with pytest.raises(ValueError, match="depth"):
        ModelConfig(depth=1)
