"""The back projector is the exact adjoint of the forward projector (dot-product test)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import recon
from helpers import general2d, general3d, tomo2d, tomo3d

FAST = settings(max_examples=6, deadline=None, derandomize=True)


def dot_error(geom, seed):
    """|<Ax, y> - <x, A^T y>| / (|Ax| |y|) in float64."""
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        x = rng.normal(size=geom.vol_shape)
        y = rng.normal(size=geom.proj_shape)
        ax = recon.forward_project(x, geom)
        aty = recon.back_project(y, geom)
        assert ax.dtype == jnp.float64 and aty.dtype == jnp.float64
        lhs, rhs = float(jnp.vdot(ax, y)), float(jnp.vdot(x, aty))
        return abs(lhs - rhs) / (float(jnp.linalg.norm(ax)) * float(np.linalg.norm(y)))


@FAST
@given(arc=st.floats(0.0, 120.0), radius=st.floats(200.0, 1e5), pixel=st.floats(0.3, 2.0),
       dz=st.floats(0.5, 3.0), dx=st.floats(0.3, 3.0), z0=st.floats(0.0, 50.0),
       seed=st.integers(0, 2**31))
# Voxel boundaries exactly on detector cell edges (once broke the jitted spread: see dd1d._affine_cells)
@example(arc=0.0, radius=100.0, pixel=0.5, dz=1.0, dx=1.25, z0=0.0, seed=0)
def test_dot_tomosynthesis_2d(arc, radius, pixel, dz, dx, z0, seed):
    geom = tomo2d(arc_deg=arc, radius=radius + 6 * dz + z0, pixel=pixel, voxel=(dz, dx), z0=z0)
    assert dot_error(geom, seed) < 1e-5


@FAST
@given(arc=st.floats(0.0, 120.0), radius=st.floats(100.0, 1e5), pixel=st.floats(0.3, 2.0),
       voxel=st.tuples(st.floats(0.5, 3.0), st.floats(0.3, 3.0), st.floats(0.3, 3.0)),
       z0=st.floats(0.0, 50.0), seed=st.integers(0, 2**31))
@example(arc=0.0, radius=100.0, pixel=0.5, voxel=(1.0, 1.25, 1.0), z0=0.0, seed=0)
# Outer views with x as main axis: the detector columns (along x) trace z on those slices;
# before issue 10 they were put on y and the projection was NaN
@example(arc=91.0, radius=100.0, pixel=0.5, voxel=(1.0, 1.25, 1.0), z0=0.0, seed=0)
def test_dot_tomosynthesis_3d(arc, radius, pixel, voxel, z0, seed):
    geom = tomo3d(arc_deg=arc, radius=radius + 4 * voxel[0] + z0, pixel=pixel, voxel=voxel, z0=z0)
    assert dot_error(geom, seed) < 1e-5


@FAST
@given(start=st.floats(0.0, 2 * np.pi), dso=st.floats(40.0, 400.0), dod=st.floats(0.0, 100.0),
       width=st.floats(0.3, 3.0), shift=st.tuples(st.floats(-5, 5), st.floats(-5, 5)),
       seed=st.integers(0, 2**31))
def test_dot_general_2d(start, dso, dod, width, shift, seed):
    angles = start + np.linspace(0, 2 * np.pi, 6, endpoint=False)  # views in both slice groups
    geom = general2d(angles, dso=dso, dod=dod, width=width, shift=shift)
    assert dot_error(geom, seed) < 1e-5


@FAST
@given(start=st.floats(0.0, 2 * np.pi), dso=st.floats(40.0, 400.0), dod=st.floats(0.0, 100.0),
       spacing=st.tuples(st.floats(0.3, 3.0), st.floats(0.3, 3.0)), tilt=st.floats(-0.3, 0.3),
       seed=st.integers(0, 2**31))
def test_dot_general_3d(start, dso, dod, spacing, tilt, seed):
    angles = start + np.linspace(0, 2 * np.pi, 4, endpoint=False)
    geom = general3d(angles, dso=dso, dod=dod, spacing=spacing, tilt=tilt)
    assert dot_error(geom, seed) < 1e-5
