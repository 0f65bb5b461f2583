"""Projector: analytic line integrals, linearity, VJP = back projection, gradients, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import recon
from helpers import tomo2d, tomo3d
from recon.phantoms import ellipsoid_line_integrals, ellipsoid_volume
from recon.projector import _raw_forward


def test_disk_matches_analytic_line_integrals_2d():
    geom = recon.tomosynthesis_2d(n_views=3, arc_deg=40, source_distance_um=400, det_cols=128,
                                  det_pixel_um=0.5, vol_shape=(96, 128), voxel_um=0.5, z_range=(5, 53))
    shape = dict(centre=(2.0, 29.0), semi_axes=(20.0, 18.0), value=0.02)
    exact = ellipsoid_line_integrals(geom, **shape)
    proj = np.asarray(recon.forward_project(ellipsoid_volume(geom, supersample=8, **shape), geom))
    inner = exact > 0.5 * exact.max()  # away from the edges, where cell averaging blurs
    assert inner.sum() > 100
    assert np.max(np.abs(proj - exact)[inner] / exact[inner]) < 0.01


def test_ellipsoid_matches_analytic_line_integrals_3d():
    geom = recon.tomosynthesis(n_views=3, arc_deg=40, source_distance_um=300, det_shape=(48, 56),
                               det_pixel_um=1.0, vol_shape=(20, 32, 40), voxel_um=1.0, z_range=(5, 25))
    shape = dict(centre=(1.0, -1.0, 15.0), semi_axes=(14.0, 11.0, 8.0), value=0.02)
    exact = ellipsoid_line_integrals(geom, **shape)
    proj = np.asarray(recon.forward_project(ellipsoid_volume(geom, supersample=6, **shape), geom))
    inner = exact > 0.7 * exact.max()
    assert inner.sum() > 100
    assert np.max(np.abs(proj - exact)[inner] / exact[inner]) < 0.01


def test_uniform_slab_gives_secant_path_length():
    """A slab filling the volume: every ray inside crosses thickness T, length T / cos."""
    geom = tomo2d(n_views=3, arc_deg=40.0, radius=2000.0, pixel=0.5)
    proj = np.asarray(recon.forward_project(np.ones(geom.vol_shape), geom))
    src = geom.source_positions_um
    cols = geom.det_shape[0]
    x_det = (np.arange(cols) - cols / 2 + 0.5) * 0.5
    thickness = geom.vol_window[0][1] - geom.vol_window[0][0]
    for k in range(3):
        ray = np.stack([x_det - src[k, 0], -src[k, 2] * np.ones(cols)], axis=1)
        expected = thickness * np.linalg.norm(ray, axis=1) / np.abs(ray[:, 1])
        centre = slice(cols // 2 - 3, cols // 2 + 3)  # rays that cross the whole slab
        np.testing.assert_allclose(proj[k, centre], expected[centre], rtol=1e-5)


def test_linearity(rng):
    geom = tomo3d()
    x, y = rng.normal(size=(2, *geom.vol_shape)).astype(np.float32)
    a, b = 1.7, -0.4
    lhs = recon.forward_project(a * x + b * y, geom)
    rhs = a * recon.forward_project(x, geom) + b * recon.forward_project(y, geom)
    np.testing.assert_allclose(lhs, rhs, atol=1e-4 * float(jnp.max(jnp.abs(rhs))))
    p, q = rng.normal(size=(2, *geom.proj_shape)).astype(np.float32)
    lhs = recon.back_project(a * p + b * q, geom)
    rhs = a * recon.back_project(p, geom) + b * recon.back_project(q, geom)
    np.testing.assert_allclose(lhs, rhs, atol=1e-4 * float(jnp.max(jnp.abs(rhs))))


def test_vjp_of_forward_is_back_projection(rng):
    geom = tomo3d()
    with jax.enable_x64(True):
        x = rng.normal(size=geom.vol_shape)
        y = jnp.asarray(rng.normal(size=geom.proj_shape))
        _, vjp = jax.vjp(lambda v: recon.forward_project(v, geom), jnp.asarray(x))
        (grad_custom,) = vjp(y)
        np.testing.assert_allclose(grad_custom, recon.back_project(y, geom), rtol=1e-12, atol=1e-12)
        # plain reverse-mode AD of the gather-based forward = its exact transpose
        _, vjp_ad = jax.vjp(lambda v: _raw_forward(v, geom), jnp.asarray(x))
        np.testing.assert_allclose(grad_custom, vjp_ad(y)[0], rtol=1e-9, atol=1e-9)
        # and the back projector's VJP is the forward projector
        _, vjp_bp = jax.vjp(lambda q: recon.back_project(q, geom), y)
        np.testing.assert_allclose(vjp_bp(jnp.asarray(x))[0], recon.forward_project(x, geom),
                                   rtol=1e-12, atol=1e-12)


def test_gradient_matches_finite_differences(rng):
    geom = tomo2d()
    with jax.enable_x64(True):
        target = jnp.asarray(rng.normal(size=geom.proj_shape))
        x = jnp.asarray(rng.uniform(0, 1, size=geom.vol_shape))
        direction = jnp.asarray(rng.normal(size=geom.vol_shape))

        def loss(v):
            return jnp.sum(jnp.sin(recon.forward_project(v, geom) - target) ** 2)

        grad = jax.grad(loss)(x)
        h = 1e-5
        fd = (loss(x + h * direction) - loss(x - h * direction)) / (2 * h)
        assert abs(float(jnp.vdot(grad, direction)) - float(fd)) < 1e-6 * abs(float(fd)) + 1e-9


def test_float32_default_float64_on_request(rng):
    geom = tomo2d()
    x = rng.normal(size=geom.vol_shape)
    assert recon.forward_project(x, geom).dtype == jnp.float32
    assert recon.forward_project(x.astype(int), geom).dtype == jnp.float32
    with jax.enable_x64(True):
        assert recon.forward_project(x, geom).dtype == jnp.float64
        assert recon.forward_project(x.astype(np.float32), geom).dtype == jnp.float32


def test_view_chunking_does_not_change_the_result(rng):
    geom = tomo2d(n_views=5)
    x = rng.normal(size=geom.vol_shape).astype(np.float32)
    p = rng.normal(size=geom.proj_shape).astype(np.float32)
    np.testing.assert_allclose(recon.forward_project(x, geom, view_chunk=2),
                               recon.forward_project(x, geom), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(recon.back_project(p, geom, view_chunk=2),
                               recon.back_project(p, geom), rtol=1e-5, atol=1e-5)


def test_projector_under_jit_and_vmap(rng):
    geom = tomo2d()
    xs = rng.normal(size=(2, *geom.vol_shape)).astype(np.float32)
    batched = jax.jit(jax.vmap(lambda v: recon.forward_project(v, geom)))(xs)
    np.testing.assert_allclose(batched[1], recon.forward_project(xs[1], geom), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    (lambda g: np.ones((3, 3)), "does not match geometry.vol_shape"),
    (lambda g: np.full(g.vol_shape, np.nan), "NaN"),
])
def test_forward_rejects_bad_volumes(bad, message):
    geom = tomo2d()
    with pytest.raises(ValueError, match=message):
        recon.forward_project(bad(geom), geom)


def test_back_projection_rejects_bad_projections():
    geom = tomo3d()
    with pytest.raises(ValueError, match="does not match geometry.proj_shape"):
        recon.back_project(np.ones((geom.n_views + 1, *geom.det_shape)), geom)
    p = np.ones(geom.proj_shape)
    p[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="projections: contains NaN or inf"):
        recon.back_project(p, geom)
    with pytest.raises(ValueError, match="geometry: expected"):
        recon.back_project(np.ones(geom.proj_shape), {"vectors": []})


def test_native_separable_kernels_match_the_xla_path(rng):
    """Separable views (tomosynthesis in 2D and 3D, parallel beams in 2D and along the
    axes in 3D) run through the compiled kernels of recon.native; kernel="xla" runs the
    same geometry in JAX (2D: integral tables; 3D: the general per-row path). Both are
    exact distance-driven for these views, so they agree to rounding, forward and back,
    for detector cells narrower and much wider than a voxel (no tap limit in the kernels)."""
    from recon import projector as P

    parallel = [recon.circular(kind, angles_rad=np.deg2rad([0.0, 10.0, 37.0, 95.0, 140.0]),
                               det_shape=shape, det_pixel_um=1.1, vol_shape=vol, voxel_um=0.9)
                for kind, shape, vol in (("parallel", (13,), (9, 11)),
                                         ("parallel3d", (5, 13), (4, 9, 11)))]
    cases = [tomo3d(n_views=3, pixel=0.7, voxel=(1.0, 1.5, 1.3)),
             tomo3d(n_views=3, pixel=9.0, voxel=(1.0, 1.5, 1.3)),
             tomo2d(pixel=0.4), tomo2d(pixel=5.0), *parallel]
    for geom in cases:
        assert all(g.native for g in P.Projector(geom)._plan.groups)
        assert not any(g.native for g in P.Projector(geom, kernel="xla")._plan.groups)
        x = rng.normal(size=geom.vol_shape)
        p = rng.normal(size=geom.proj_shape)
        with jax.enable_x64(True):
            fast = P.Projector(geom, dtype="float64")
            slow = P.Projector(geom, dtype="float64", kernel="xla")
            ref = np.asarray(slow.forward(x))
            np.testing.assert_allclose(fast.forward(x), ref, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(fast.adjoint(p), slow.adjoint(p), rtol=1e-10, atol=1e-12)
        # float32: the maps themselves round (slice positions of hundreds of voxels), so
        # both kernels are held to the float64 result; the native one no worse than XLA's
        x32 = x.astype(np.float32)
        fast32 = P.Projector(geom).forward(x32)
        assert fast32.dtype == jnp.float32
        err_native = np.abs(np.asarray(fast32) - ref).max()
        err_xla = np.abs(np.asarray(P.Projector(geom, kernel="xla").forward(x32)) - ref).max()
        assert err_native <= 2 * err_xla + 1e-6 * np.abs(ref).max()


def test_kernel_option_is_checked():
    with pytest.raises(ValueError, match="kernel: expected 'native' or 'xla'"):
        recon.Projector(tomo3d(), kernel="cuda")
