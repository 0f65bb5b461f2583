"""The compiled kernels of the general 3D path (recon.native.forward_sheared /
back_sheared) against the JAX path they replace (``kernel="xla"``: recon.projector's
_sheared_maps with recon.dd1d's cumulative sums, an independent implementation of the same
maps and weights), and their dot-product (adjoint) test, in float64."""

import jax
import numpy as np
import pytest

import recon
from helpers import general3d

#: Views at angles that are not multiples of 45 degrees, on both main axes (x and y).
ANGLES = np.array([0.0, 0.3, np.pi / 4 + 0.1, 2.0, 4.1])
VOL3D = {"GridRowCount": 12, "GridColCount": 14, "GridSliceCount": 10}


def _oblique_parallel(tilt=0.3):
    """parallel3d_vec with rays tilted out of the rotation plane (laminography): the row
    step has a component along the main axis, so every column's rows shear."""
    rows = []
    for a in ANGLES:
        ray = np.array([np.sin(a) * np.cos(tilt), -np.cos(a) * np.cos(tilt), np.sin(tilt)])
        u = np.array([np.cos(a), np.sin(a), 0.0])
        rows.append(np.concatenate([ray, [0.3, -0.2, 0.5], u, 0.9 * np.cross(ray, u)]))
    pg = {"type": "parallel3d_vec", "DetectorRowCount": 22, "DetectorColCount": 26, "Vectors": np.array(rows)}
    return recon.from_astra(pg, VOL3D)


def _pitched_cone():
    """cone_vec whose detector is also pitched about its rows (v leaves the slices: one
    division per boundary, the kernels' general branch), source off-centre."""
    g = general3d(ANGLES)
    vec = g.vectors.copy()
    c, s = np.cos(0.2), np.sin(0.2)
    u = vec[:, 6:9]
    normal = np.cross(u, vec[:, 9:12])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    vec[:, 9:12] = c * vec[:, 9:12] + s * normal * np.linalg.norm(vec[:, 9:12], axis=1, keepdims=True)
    vec[:, 0:3] += np.array([1.5, -2.0, 3.0])
    return recon.Geometry(vectors=vec, det_shape=g.det_shape, vol_shape=g.vol_shape, vol_window=g.vol_window)


CASES = {
    "circular cone": lambda: general3d(ANGLES),
    "cone, detector rolled 0.2 rad": lambda: general3d(ANGLES, tilt=0.2),
    "cone, detector pitched 0.2 rad": _pitched_cone,
    "oblique parallel3d_vec": _oblique_parallel,
}


@pytest.mark.parametrize("name", list(CASES))
def test_native_general_path_equals_the_jax_path(name):
    """Same projections and back projections as kernel="xla" to float64 rounding."""
    geom = CASES[name]()
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        fast = recon.Projector(geom, dtype="float64", kernel="native")
        ref = recon.Projector(geom, dtype="float64", kernel="xla")
        assert all(g.sheared for g in fast._plan.groups), "expected only general (sheared) groups"
        assert not any(g.sheared or g.native for g in ref._plan.groups)
        x, y = rng.random(geom.vol_shape), rng.normal(size=geom.proj_shape)
        fx, fx_ref = np.asarray(fast.forward(x)), np.asarray(ref.forward(x))
        by, by_ref = np.asarray(fast.adjoint(y)), np.asarray(ref.adjoint(y))
    assert np.abs(fx_ref).max() > 0 and np.abs(by_ref).max() > 0
    np.testing.assert_allclose(fx, fx_ref, rtol=0, atol=1e-10 * np.abs(fx_ref).max())
    np.testing.assert_allclose(by, by_ref, rtol=0, atol=1e-10 * np.abs(by_ref).max())


@pytest.mark.parametrize("name", list(CASES))
def test_native_general_pair_is_an_exact_adjoint(name):
    """<A x, y> = <x, A^T y> to float64 rounding (the back projection is the transpose
    of every step of the forward pass, not a separately discretised operator)."""
    geom = CASES[name]()
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        A = recon.Projector(geom, dtype="float64", kernel="native")
        x, y = rng.normal(size=geom.vol_shape), rng.normal(size=geom.proj_shape)
        fx, aty = np.asarray(A.forward(x)), np.asarray(A.adjoint(y))
    lhs, rhs = float(np.vdot(fx, y)), float(np.vdot(x, aty))
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(fx) * np.linalg.norm(y)


def test_float32_data_run_in_float32_to_float32_rounding():
    """float32 volumes and projections stay float32 through the kernels and agree with
    the float64 run to float32 rounding (the maps are float64 in both)."""
    geom = general3d(ANGLES, tilt=0.2)
    rng = np.random.default_rng(5)
    x, y = rng.random(geom.vol_shape), rng.random(geom.proj_shape)
    A32 = recon.Projector(geom, kernel="native")
    fx32, aty32 = np.asarray(A32.forward(x.astype(np.float32))), np.asarray(A32.adjoint(y.astype(np.float32)))
    with jax.enable_x64(True):
        A64 = recon.Projector(geom, dtype="float64", kernel="native")
        fx64, aty64 = np.asarray(A64.forward(x)), np.asarray(A64.adjoint(y))
    assert fx32.dtype == np.float32 and aty32.dtype == np.float32
    np.testing.assert_allclose(fx32, fx64, rtol=0, atol=1e-5 * np.abs(fx64).max())
    np.testing.assert_allclose(aty32, aty64, rtol=0, atol=1e-5 * np.abs(aty64).max())


def test_threads_split_the_work_without_changing_it(monkeypatch):
    """One thread or several, one view (slices split, partial images added) or several
    (views split): the same projections and back projections."""
    from recon import native

    geom = general3d(ANGLES, tilt=0.2)
    rng = np.random.default_rng(11)
    x, y = rng.random(geom.vol_shape), rng.normal(size=geom.proj_shape)
    with jax.enable_x64(True):
        runs = []
        for threads in (2, 1):
            monkeypatch.setattr(native, "THREADS", threads)
            A, first = recon.Projector(geom, dtype="float64"), recon.Projector(geom.subset([0]), dtype="float64")
            runs.append([np.asarray(r) for r in (A.forward(x), A.adjoint(y), first.forward(x))])
    for many, one in zip(*runs):
        np.testing.assert_allclose(many, one, rtol=0, atol=1e-12 * np.abs(one).max())
    np.testing.assert_allclose(runs[0][2][0], runs[0][0][0], rtol=0, atol=1e-12 * np.abs(runs[0][0]).max())
