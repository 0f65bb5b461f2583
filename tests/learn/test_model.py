"""The network: shapes, transposed-convolution alignment, checkerboard-free initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learn import ModelConfig, create_model, preset
from learn.model import (CONDITIONING, bicubic_up, bilinear_kernel, condition_features,
                         conv_transpose, flops_per_lr_pixel, parameter_count)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shapes(scale):
    m = create_model(ModelConfig(scale=scale, depth=3, width=4))
    assert m(jnp.zeros((5, 7)), 1.0, 0.01).shape == (5 * scale, 7 * scale)
    assert m(jnp.zeros((2, 5, 7)), 1.0, 0.01).shape == (2, 5 * scale, 7 * scale)
    assert m(jnp.zeros((2, 5, 7, 1)), jnp.array([1.0, 2.0]), jnp.array([0.01, 0.02])).shape == \
        (2, 5 * scale, 7 * scale, 1)


def test_conditioning_channels_shape_and_encoding():
    # The first convolution sees the image plus one constant map per conditioning input.
    m = create_model(preset("tiny"))
    assert m.convs[0].kernel.shape == (3, 3, 1 + len(CONDITIONING), 8)
    c = condition_features(jnp.array([0.5, 2.5]), jnp.array([0.002, 0.08]))
    assert c.shape == (2, 2)
    np.testing.assert_allclose(c[:, 0], [0.5, 2.5])
    np.testing.assert_allclose(c[:, 1], np.log10([0.002, 0.08]) + 2, rtol=1e-6)
    # Scalars broadcast; zero noise is floored, not -inf.
    assert condition_features(1.0, 0.0).shape == (1, 2)
    assert np.isfinite(np.asarray(condition_features(1.0, 0.0))).all()


def test_conditioning_changes_the_output_and_only_per_image():
    m = create_model(preset("tiny"), seed=3)
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16))
    a = m(x, jnp.array([1.0, 1.0]), jnp.array([0.01, 0.01]))
    b = m(x, jnp.array([1.0, 2.0]), jnp.array([0.01, 0.05]))
    np.testing.assert_array_equal(a[0], b[0])  # image 0 has the same conditioning
    assert float(jnp.abs(a[1] - b[1]).max()) > 1e-4  # image 1 does not
    c = m(x, 1.0, jnp.array([0.01, 0.08]))
    assert float(jnp.abs(a[1] - c[1]).max()) > 1e-4


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
    # blur 0 and noise 0.01 encode as zero maps, so only the image path is tested here
    diff = m(x, 0.0, 0.01) - bicubic_up(x[None, :, :, None], 2)[0, :, :, 0]
    # x is uniform in 0..1 (mean absolute deviation 0.25): the initial residual is a
    # third of that at most (He-initialised body, transposed conv scaled by 0.1).
    assert float(jnp.abs(diff).mean()) < 0.08


def test_presets_and_validation():
    assert (preset("vdsr").depth, preset("vdsr").width) == (20, 64)  # Kim et al. 2016
    assert flops_per_lr_pixel(preset("vdsr")) > flops_per_lr_pixel(preset("default"))
    with pytest.raises(ValueError, match="preset: unknown"):
        preset("huge")
    with pytest.raises(ValueError, match="scale"):
        ModelConfig(scale=8)
    with pytest.raises(ValueError, match="depth"):
        ModelConfig(depth=1)


@pytest.mark.parametrize("scale,depth,width", [(2, 2, 1), (2, 3, 8), (3, 5, 6), (4, 10, 32)])
def test_parameter_count_is_the_built_model_s(scale, depth, width):
    """The count the checkpoint loader compares before building a model is the real one."""
    from flax import nnx

    config = ModelConfig(scale=scale, depth=depth, width=width)
    leaves = jax.tree_util.tree_leaves(nnx.state(create_model(config), nnx.Param))
    assert parameter_count(config) == sum(int(np.size(x)) for x in leaves)
