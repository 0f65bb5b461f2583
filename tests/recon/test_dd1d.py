"""1D distance-driven kernels in float64: the affine forward pass (integrals, then one
difference) matches the general one and is the transpose of the affine adjoint, also
when voxel boundaries fall exactly on detector cell edges (under jit)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from recon import dd1d

FAST = settings(max_examples=25, deadline=None, derandomize=True)


def _voxel_and_cell_rows(seed, n, m, axis):
    """Random float64 rows of ``n`` voxels and ``m`` cells (3 of each) along ``axis``."""
    rng = np.random.default_rng(seed)
    return (jnp.asarray(np.moveaxis(rng.normal(size=(n, 3)), 0, axis)),
            jnp.asarray(np.moveaxis(rng.normal(size=(m, 3)), 0, axis)))


@FAST
@given(alpha=st.floats(0.2, 3.0), negative=st.booleans(), beta=st.floats(-8.0, 20.0),
       seed=st.integers(0, 2**31), axis=st.sampled_from([0, 1]))
@example(alpha=0.4, negative=False, beta=5.0, seed=0, axis=0)   # boundaries on cell edges
def test_affine_forward_matches_general_and_is_the_adjoint(alpha, negative, beta, seed, axis):
    alpha = -alpha if negative else alpha
    n, m = 12, 20
    with jax.enable_x64(True):
        f, g = _voxel_and_cell_rows(seed, n, m, axis)
        affine = jax.jit(dd1d.forward_affine, static_argnums=(3, 4))(f, alpha, beta, m, axis)
        t = alpha * (jnp.arange(m + 1) - m / 2) + beta
        general = dd1d.forward(f, t, axis)
        back = jax.jit(dd1d.adjoint_affine, static_argnums=(3, 4))(g, alpha, beta, n, axis)
        scale = float(jnp.max(jnp.abs(general))) + 1.0
        np.testing.assert_allclose(affine, general, atol=1e-12 * scale)
        lhs, rhs = float(jnp.vdot(affine, g)), float(jnp.vdot(f, back))
        assert abs(lhs - rhs) <= 1e-12 * (float(jnp.linalg.norm(affine)) * float(jnp.linalg.norm(g)) + 1)


def test_integrals_of_rows_add_before_the_difference():
    """Linearity the 2D projector relies on: summed integrals, one difference."""
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        rows = jnp.asarray(rng.random((4, 10)))
        alphas, betas, m = [0.7, 0.8, 0.9, 1.1], [8.0, 7.5, 9.25, 6.0], 30
        total = sum(dd1d.integrals_affine(dd1d.integral_table(r, 0), a, b, m, 0)
                    for r, a, b in zip(rows, alphas, betas))
        each = sum(dd1d.forward_affine(r, a, b, m, 0) for r, a, b in zip(rows, alphas, betas))
        np.testing.assert_allclose(jnp.diff(total), each, atol=1e-12)
        # every row lies inside the detector: cell values times cell widths give its integral
        assert abs(float(dd1d.forward_affine(rows[0], 0.7, 8.0, m, 0).sum()) * 0.7
                   - float(rows[0].sum())) < 1e-12


@settings(max_examples=12, deadline=None, derandomize=True)
@given(alpha=st.floats(0.25, 2.5), negative=st.booleans(), beta=st.floats(-8.0, 20.0),
       seed=st.integers(0, 2**31), axis=st.sampled_from([0, 1]))
@example(alpha=0.5, negative=False, beta=5.0, seed=0, axis=1)   # boundaries on cell edges
def test_taps_match_the_cumulative_sum_kernels_and_are_transposes(alpha, negative, beta, seed, axis):
    """Taps (a few gathers per output) give the same overlap weights as the cumulative-sum
    kernels, with as many taps as :func:`dd1d.tap_count` asks for, and the voxel-side
    adjoint is the exact transpose of the cell-side forward pass."""
    alpha = -alpha if negative else alpha
    n, m = 12, 20
    with jax.enable_x64(True):
        f, g = _voxel_and_cell_rows(seed, n, m, axis)
        t = dd1d.affine_boundaries(alpha, beta, m, jnp.float64)
        e = dd1d.affine_edges(alpha, beta, n, m, jnp.float64)
        fwd = jax.jit(dd1d.forward_taps, static_argnums=(2, 3))(f, t, axis, dd1d.tap_count(abs(alpha)))
        back = jax.jit(dd1d.adjoint_taps, static_argnums=(3, 4))(g, t, e, axis, dd1d.tap_count(1 / abs(alpha)))
        scale = float(jnp.max(jnp.abs(fwd))) + 1.0
        np.testing.assert_allclose(fwd, dd1d.forward_affine(f, alpha, beta, m, axis), atol=1e-12 * scale)
        np.testing.assert_allclose(back, dd1d.adjoint_affine(g, alpha, beta, n, axis),
                                   atol=1e-12 * (float(jnp.max(jnp.abs(back))) + 1.0))
        lhs, rhs = float(jnp.vdot(fwd, g)), float(jnp.vdot(f, back))
        assert abs(lhs - rhs) <= 1e-12 * (float(jnp.linalg.norm(fwd)) * float(jnp.linalg.norm(g)) + 1)


def test_too_few_taps_lose_overlaps():
    """The tap count matters: one tap short, cells two voxels wide lose part of their row."""
    with jax.enable_x64(True):
        f = jnp.ones(12)
        t = dd1d.affine_boundaries(2.0, 6.3, 4, jnp.float64)   # cells [2.3, 4.3], ... inside the row
        full = dd1d.forward_taps(f, t, 0, dd1d.tap_count(2.0))
        short = dd1d.forward_taps(f, t, 0, dd1d.tap_count(2.0) - 2)
        np.testing.assert_allclose(full, 1.0, atol=1e-12)
        assert float(jnp.max(short)) < 0.9


def test_blocked_cumsum_matches_numpy():
    """dd1d.cumsum (blocked triangular products) equals the running sum, on any axis and
    for lengths that are not whole blocks."""
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        for shape, axis in (((37, 5), 0), ((3, 70, 4), 1), ((2, 65), -1), ((1,), 0)):
            x = rng.normal(size=shape)
            np.testing.assert_allclose(dd1d.cumsum(jnp.asarray(x), axis), np.cumsum(x, axis=axis),
                                       rtol=1e-12, atol=1e-12)
