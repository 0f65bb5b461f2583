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


def forward_affine(f, alpha, beta, m, axis):
    """Cell averages for boundaries ``alpha (j - m/2) + beta`` as the projector forms them:
    the row's integral table, its integrals at the boundaries, one difference."""
    table = dd1d.integral_table(f, axis)
    return dd1d._diff(dd1d.integrals_affine(table, alpha, beta, m, axis), axis % f.ndim)


def adjoint_affine(g, alpha, beta, n, axis):
    """The projector's transpose of :func:`forward_affine` onto ``n`` voxels."""
    return dd1d.adjoint_affine_table(dd1d.integral_table(g, axis), alpha, beta, n, axis)


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
        affine = jax.jit(forward_affine, static_argnums=(3, 4))(f, alpha, beta, m, axis)
        t = alpha * (jnp.arange(m + 1) - m / 2) + beta
        general = dd1d.forward(f, t, axis)
        back = jax.jit(adjoint_affine, static_argnums=(3, 4))(g, alpha, beta, n, axis)
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
        each = sum(forward_affine(r, a, b, m, 0) for r, a, b in zip(rows, alphas, betas))
        np.testing.assert_allclose(jnp.diff(total), each, atol=1e-12)
        # every row lies inside the detector: cell values times cell widths give its integral
        assert abs(float(forward_affine(rows[0], 0.7, 8.0, m, 0).sum()) * 0.7
                   - float(rows[0].sum())) < 1e-12


def test_blocked_cumsum_matches_numpy():
    """dd1d.cumsum (blocked triangular products) equals the running sum, on any axis and
    for lengths that are not whole blocks."""
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        for shape, axis in (((37, 5), 0), ((3, 70, 4), 1), ((2, 65), -1), ((1,), 0)):
            x = rng.normal(size=shape)
            np.testing.assert_allclose(dd1d.cumsum(jnp.asarray(x), axis), np.cumsum(x, axis=axis),
                                       rtol=1e-12, atol=1e-12)
