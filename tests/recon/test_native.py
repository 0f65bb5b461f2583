"""The compiled separable kernels (recon.native) against the cumulative-sum kernels of
recon.dd1d applied in two 1D passes (an independent implementation of the same
distance-driven weights), and their dot-product (adjoint) test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from recon import dd1d, native

FAST = settings(max_examples=20, deadline=None, derandomize=True)


def _two_pass(vol, ax, bx, ay, by, rows, cols):
    """Sum over slices of ``W_rows S W_cols^T`` by dd1d.forward (float64)."""
    out = np.zeros((ax.shape[0], rows, cols))
    with jax.enable_x64(True):
        for v in range(ax.shape[0]):
            for k in range(vol.shape[0]):
                tc = ax[v, k] * (jnp.arange(cols + 1) - cols / 2) + bx[v, k]
                tr = ay[v, k] * (jnp.arange(rows + 1) - rows / 2) + by[v, k]
                img = dd1d.forward(jnp.asarray(vol[k]), tc, axis=1)
                out[v] += np.asarray(dd1d.forward(img, tr, axis=0))
    return out


def _maps(rng, n_views, n_slices, scale, shift, negative):
    """Per (view, slice) scales near ``scale`` (negative: a mirrored axis) and shifts."""
    sign = -1.0 if negative else 1.0
    a = sign * scale * (1 + 0.2 * rng.random((n_views, n_slices)))
    return a, shift + 3 * rng.normal(size=(n_views, n_slices))


@FAST
@given(cscale=st.floats(0.2, 6.0), rscale=st.floats(0.2, 6.0), negative=st.booleans(),
       shift=st.floats(-10.0, 25.0), seed=st.integers(0, 2**31))
@example(cscale=0.5, rscale=1.0, negative=False, shift=8.0, seed=0)   # boundaries on voxel edges
def test_forward_matches_two_cumulative_sum_passes(cscale, rscale, negative, shift, seed):
    """Cells a fifth of a voxel to six voxels wide, mirrored axes, detectors partly or
    wholly off the slice: the same cell averages as dd1d.forward in two passes."""
    rng = np.random.default_rng(seed)
    vol = rng.normal(size=(3, 9, 14))
    rows, cols = 7, 11
    ax, bx = _maps(rng, 2, 3, cscale, shift, negative)
    ay, by = _maps(rng, 2, 3, rscale, shift / 2, False)
    if cscale == 0.5 and shift == 8.0:
        ax[:], bx[:] = 0.5, 8.0   # every voxel edge on a cell boundary
    got = native.forward_separable(vol, ax, bx, ay, by, (rows, cols))
    want = _two_pass(vol, ax, bx, ay, by, rows, cols)
    assert got.dtype == np.float64 and got.shape == (2, rows, cols)
    np.testing.assert_allclose(got, want, atol=1e-11 * (np.abs(want).max() + 1))


@FAST
@given(cscale=st.floats(0.2, 6.0), rscale=st.floats(0.2, 6.0), negative=st.booleans(),
       seed=st.integers(0, 2**31))
def test_back_projection_is_the_transpose(cscale, rscale, negative, seed):
    rng = np.random.default_rng(seed)
    vol = rng.normal(size=(4, 10, 13))
    rows, cols = 8, 12
    ax, bx = _maps(rng, 3, 4, cscale, 6.0, negative)
    ay, by = _maps(rng, 3, 4, rscale, 5.0, False)
    y = rng.normal(size=(3, rows, cols))
    fx = native.forward_separable(vol, ax, bx, ay, by, (rows, cols))
    aty = native.back_separable(y, ax, bx, ay, by, vol.shape)
    lhs, rhs = float(np.vdot(fx, y)), float(np.vdot(vol, aty))
    assert abs(lhs - rhs) <= 1e-12 * (np.linalg.norm(fx) * np.linalg.norm(y) + 1)
    assert np.abs(aty).max() > 0


def test_a_slice_inside_the_detector_keeps_its_integral():
    """Conservation: when every voxel lies under the detector, cell averages times cell
    areas (|alpha| |alpha_rows| voxel areas) add up to the slice's sum, in float32 too."""
    rng = np.random.default_rng(1)
    vol = rng.random((2, 20, 30)).astype(np.float32)
    ax, bx = np.full((1, 2), 0.7), np.full((1, 2), 15.0)
    ay, by = np.full((1, 2), 0.6), np.full((1, 2), 10.0)
    proj = native.forward_separable(vol, ax, bx, ay, by, (40, 50))
    assert proj.dtype == np.float32
    assert abs(proj.sum() * 0.7 * 0.6 - vol.sum()) < 1e-5 * vol.sum()


def test_threads_split_the_work_without_changing_it(monkeypatch):
    """One thread or several: the same result (views and slices are split, not shared)."""
    rng = np.random.default_rng(2)
    vol = rng.normal(size=(5, 9, 9))
    ax, bx = _maps(rng, 7, 5, 0.8, 4.0, False)
    ay, by = _maps(rng, 7, 5, 0.8, 4.0, False)
    y = rng.normal(size=(7, 6, 6))
    many = native.forward_separable(vol, ax, bx, ay, by, (6, 6)), native.back_separable(y, ax, bx, ay, by, vol.shape)
    monkeypatch.setattr(native, "THREADS", 1)
    one = native.forward_separable(vol, ax, bx, ay, by, (6, 6)), native.back_separable(y, ax, bx, ay, by, vol.shape)
    for a, b in zip(many, one):
        np.testing.assert_array_equal(a, b)


@FAST
@given(scale=st.floats(0.2, 6.0), negative=st.booleans(), shift=st.floats(-10.0, 25.0),
       n_views=st.integers(1, 4), seed=st.integers(0, 2**31))
@example(scale=0.5, negative=False, shift=8.0, n_views=1, seed=0)   # boundaries on voxel edges
def test_rows_match_dd1d_and_are_transposes(scale, negative, shift, n_views, seed):
    """2D kernels (slice integral tables, one difference per view): the cell averages of
    dd1d.forward summed over slices, and an exact transpose (dot test)."""
    rng = np.random.default_rng(seed)
    vol = rng.normal(size=(21, 14))   # more slices than one block (SLICE_BLOCK)
    cols = 11
    ax, bx = _maps(rng, n_views, 21, scale, shift, negative)
    if scale == 0.5 and shift == 8.0:
        ax[:], bx[:] = 0.5, 8.0
    got = native.forward_rows(vol, ax, bx, cols)
    want = np.zeros((n_views, cols))
    with jax.enable_x64(True):
        for v in range(n_views):
            for k in range(vol.shape[0]):
                t = ax[v, k] * (jnp.arange(cols + 1) - cols / 2) + bx[v, k]
                want[v] += np.asarray(dd1d.forward(jnp.asarray(vol[k]), t, axis=0))
    np.testing.assert_allclose(got, want, atol=1e-11 * (np.abs(want).max() + 1))
    y = rng.normal(size=(n_views, cols))
    aty = native.back_rows(y, ax, bx, vol.shape)
    lhs, rhs = float(np.vdot(got, y)), float(np.vdot(vol, aty))
    assert abs(lhs - rhs) <= 1e-12 * (np.linalg.norm(got) * np.linalg.norm(y) + 1)
    # slices along the array's second axis, read and written in place: the same numbers
    np.testing.assert_array_equal(native.forward_rows(vol.T.copy(), ax, bx, cols, transposed=True), got)
    np.testing.assert_array_equal(native.back_rows(y, ax, bx, vol.T.shape, transposed=True), aty.T)


@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")  # JAX's own, not ours
def test_kernels_run_in_a_forked_child():
    """A process forked after the kernels ran (multiprocessing's fork start method) gets
    a pool of its own: the child's projection finishes and matches the parent's."""
    import multiprocessing as mp

    rng = np.random.default_rng(4)
    vol = rng.normal(size=(6, 12))
    ax, bx = _maps(rng, 3, 6, 0.9, 6.0, False)
    parent = native.forward_rows(vol, ax, bx, 10)
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply_async(native.forward_rows, (vol, ax, bx, 10)).get(timeout=60)
    np.testing.assert_array_equal(child, parent)
