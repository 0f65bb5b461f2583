"""CT with every algorithm: FBP amplitude (analytic disc), the Projector protocol, CGLS,
compiled sweeps, float32 under x64, and a measured sinogram against ASTRA's reconstructions."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import recon
from recon.fbp import angular_weights
from recon.projector import Projector

DATA = Path(__file__).resolve().parents[1] / "data" / "sinogram"


def _disc_sinogram(g, radius, mu, centre=(0.0, 0.0)):
    """Exact line integrals of a disc (world x, z) through every detector cell centre (2D)."""
    first, det = g._xyz([0, 1]), g.detector_centres_um
    u, _ = g.detector_vectors_um
    cols = g.det_shape[0]
    pix = det[:, None] + (np.arange(cols) - cols / 2 + 0.5)[None, :, None] * u[:, None]
    d = np.broadcast_to(first[:, None], pix.shape) if g.parallel else pix - first[:, None]
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    w = pix - np.array([centre[0], 0.0, centre[1]])
    along = (w * d).sum(-1)
    perp2 = (w * w).sum(-1) - along**2
    return (2 * mu * np.sqrt(np.clip(radius**2 - perp2, 0, None))).astype(np.float32)


def _disc_case(kind, pixel, angles, sod_px=500.0, odd_px=100.0):
    return recon.circular(kind, angles_rad=angles, det_shape=160, det_pixel_um=pixel,
                          vol_shape=(96, 96), voxel_um=pixel,
                          source_origin_um=None if kind == "parallel" else sod_px * pixel,
                          origin_det_um=odd_px * pixel)


@pytest.mark.parametrize("pixel", [0.4, 1.0, 2.0])
@pytest.mark.parametrize("kind, angles, sod, odd", [
    ("parallel", np.linspace(0, np.pi, 120, endpoint=False), 0, 0),
    ("parallel", np.linspace(0, np.pi, 121), 0, 0),                  # both ends: 0 and 180 degrees
    ("parallel", np.sort(np.random.default_rng(1).uniform(0, np.pi, 150)), 0, 0),  # uneven
    ("fanflat", np.linspace(0, 2 * np.pi, 240, endpoint=False), 500.0, 100.0),
    ("fanflat", np.linspace(0, 2 * np.pi, 240, endpoint=False), 1e4, 384.0),  # the case
])
def test_fbp_recovers_the_attenuation_of_a_disc(pixel, kind, angles, sod, odd):
    mu = 0.01  # 1/um
    g = _disc_case(kind, pixel, angles, sod, odd)
    p = _disc_sinogram(g, 30 * pixel, mu, centre=(4 * pixel, -3 * pixel))
    x = np.asarray(recon.fbp(p, g).data)
    inner = x[48 - 3 - 12:48 - 3 + 12, 48 + 4 - 12:48 + 4 + 12]  # well inside the disc
    assert abs(inner.mean() / mu - 1) < 0.01, inner.mean()
    outside = x[:10, :10]
    assert abs(outside.mean()) < 0.01 * mu


def test_angular_weights_follow_the_view_directions():
    w, closed = angular_weights(np.linspace(0, np.pi, 181), np.pi)  # 0 and 180 deg coincide
    assert closed and np.isclose(w.sum(), np.pi) and np.allclose(w[1:-1], np.pi / 180)
    uneven = np.array([0.0, 0.1, 0.3, 0.6, 1.0])
    w, closed = angular_weights(uneven, 2 * np.pi)  # a limited arc: not closed
    assert not closed
    np.testing.assert_allclose(w, [0.1, 0.15, 0.25, 0.35, 0.4])


def test_fbp_refuses_short_fan_scans():
    g = _disc_case("fanflat", 1.0, np.linspace(0, np.pi, 90))
    with pytest.raises(ValueError, match="full circular scan"):
        recon.fbp(np.zeros(g.proj_shape, np.float32), g)


class DenseProjector:
    """A projector that is a plain matrix: the protocol the algorithms rely on, nothing more."""

    def __init__(self, geometry):
        A = Projector(geometry)
        n = int(np.prod(geometry.vol_shape))
        basis = jnp.eye(n, dtype=jnp.float32).reshape(n, *geometry.vol_shape)
        self.matrix = jax.vmap(A.forward)(basis).reshape(n, -1).T  # (rays, voxels)
        self.geometry, self.dtype = geometry, jnp.dtype("float32")
        self.vol_shape, self.proj_shape = geometry.vol_shape, geometry.proj_shape

    def forward(self, x):
        return (self.matrix @ jnp.ravel(x)).reshape(self.proj_shape)

    def adjoint(self, p):
        return (self.matrix.T @ jnp.ravel(p)).reshape(self.vol_shape)

    def subset_runs(self, subsets):
        per_view = self.matrix.reshape(self.proj_shape[0], -1, self.matrix.shape[1])

        def fwd(x, views):
            return jnp.einsum("vrn,n->vr", per_view[views], jnp.ravel(x)).reshape(-1, *self.proj_shape[1:])

        def adj(q, views):
            return jnp.einsum("vrn,vr->n", per_view[views], q.reshape(len(views), -1)).reshape(self.vol_shape)

        return [(list(range(len(subsets))), fwd, adj, jnp.asarray(np.stack(subsets)))]

    def cached(self, key, compute):
        return compute()


@pytest.fixture(scope="module")
def small_ct():
    g = recon.circular("parallel", angles_rad=np.linspace(0, np.pi, 12, endpoint=False), det_shape=20,
                       det_pixel_um=1.0, vol_shape=(14, 14), voxel_um=1.0)
    x = np.zeros(g.vol_shape, np.float32)
    x[3:8, 4:11] = 0.02
    x[9:12, 2:6] = 0.01
    return g, x, np.asarray(recon.forward_project(x, g))


@pytest.mark.parametrize("method, options", [
    ("sirt", {"iterations": 5}), ("sart", {"iterations": 2, "n_subsets": 3}),
    ("cgls", {"iterations": 5}), ("grad", {"iterations": 5}), ("sas", {}),
])
def test_a_new_projector_works_with_every_algorithm(small_ct, method, options):
    g, _, p = small_ct
    ours = recon.reconstruct(p, Projector(g), method=method, **options).data
    dense = recon.reconstruct(p, DenseProjector(g), method=method, **options).data
    # float32 sums in another order; CGLS amplifies rounding most
    tol = 5e-3 if method == "cgls" else 2e-4
    np.testing.assert_allclose(np.asarray(dense), np.asarray(ours), atol=tol * float(jnp.max(ours)))


def test_cgls_converges_to_least_squares(small_ct):
    _, x, _ = small_ct
    g = recon.circular("parallel", angles_rad=np.linspace(0, np.pi, 36, endpoint=False), det_shape=20,
                       det_pixel_um=1.0, vol_shape=(14, 14), voxel_um=1.0)  # overdetermined
    p = np.asarray(recon.forward_project(x, g)) + np.random.default_rng(0).normal(0, 1e-3, g.proj_shape)
    states = []
    result = recon.cgls(p, g, iterations=30, checkpoint=states.append)
    res = result.info["relative_residual"]
    assert all(b <= a * (1 + 1e-4) for a, b in zip(res, res[1:]))
    matrix = np.asarray(DenseProjector(g).matrix, dtype=float)
    lstsq = np.linalg.lstsq(matrix, p.ravel(), rcond=None)[0].reshape(x.shape)
    best = np.linalg.norm(matrix @ lstsq.ravel() - p.ravel())  # the least-squares optimum
    ours = np.linalg.norm(matrix @ np.asarray(result.data, float).ravel() - p.ravel())
    assert best <= ours < 1.01 * best
    again = recon.cgls(p, g, iterations=30, resume=states[11])  # resume gives the same result
    np.testing.assert_allclose(np.asarray(again.data), np.asarray(result.data), rtol=1e-5, atol=1e-9)


def test_sart_sweep_is_compiled_once_per_projector(small_ct, monkeypatch):
    g, _, p = small_ct
    A = Projector(g)
    recon.sart(p, A, iterations=1)
    calls = []
    monkeypatch.setattr(A, "subset_runs", lambda *a: calls.append(a))
    recon.sart(p, A, iterations=2)  # the cached sweep is reused: no new subset runs
    assert calls == []


def test_float32_stays_float32_with_x64_on(small_ct):
    g, x, _ = small_ct
    jax.config.update("jax_enable_x64", True)
    try:
        A = Projector(g)
        for fn, arg in ((A.forward, jnp.asarray(x)), (A.adjoint, jnp.zeros(g.proj_shape, jnp.float32))):
            text = str(jax.make_jaxpr(fn)(arg))
            assert "f64" not in text
        assert recon.sirt(np.zeros(g.proj_shape, np.float32), g, iterations=1).data.dtype == jnp.float32
        assert recon.fbp(np.zeros(g.proj_shape, np.float32), g).data.dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", False)


@pytest.fixture(scope="module")
def tooth():
    meta = json.loads((DATA / "tooth_reference.json").read_text())
    sino = np.load(DATA / "tooth_sinogram.npy")
    theta = np.load(DATA / "tooth_theta_rad.npy")
    n = sino.shape[1]
    g = recon.from_astra({"type": "parallel", "DetectorWidth": 1.0, "DetectorCount": n,
                          "ProjectionAngles": theta}, {"GridRowCount": n, "GridColCount": n})
    region = tuple(slice(*meta["reference_region"][k]) for k in ("rows", "cols"))
    return Projector(g), sino, region, meta


def test_measured_sinogram_fbp_matches_astra(tooth):
    A, sino, region, _ = tooth
    ref = np.load(DATA / "tooth_astra_fbp.npy")
    x = np.asarray(recon.fbp(sino, A).data)[region]
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 0.03  # measured 0.25 %


@pytest.mark.slow
def test_measured_sinogram_sirt_matches_astra(tooth):
    A, sino, region, meta = tooth
    ref = np.load(DATA / "tooth_astra_sirt.npy")
    x = np.asarray(recon.sirt(sino, A, iterations=meta["sirt_iterations"], positivity=False).data)[region]
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 0.03  # measured 0.55 %
