"""Cone-beam projection and Beer-Lambert: analytic path lengths, geometry, conservation, speed paths."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physics.materials import linear_attenuation_per_um
from physics.projection import (
    Layer,
    LayeredObject,
    VoxelObject,
    detector_coordinates,
    CHEBYSHEV_TOL,
    chebyshev_log_signal,
    path_lengths,
    transmitted_signal,
)

DET = (24, 32)


def _obliquity(source, det_shape, sample):
    u = np.asarray(detector_coordinates(det_shape[1], sample), np.float64)
    v = np.asarray(detector_coordinates(det_shape[0], sample), np.float64)
    s = np.asarray(source, np.float64)
    return np.sqrt((s[0] - u[None, :]) ** 2 + (s[1] - v[:, None]) ** 2 + s[2] ** 2) / s[2]


@settings(max_examples=15, deadline=None)
@given(t=st.floats(0.1, 50.0), h=st.floats(0.0, 2000.0), sx=st.floats(-3e4, 3e4),
       sy=st.floats(-1e4, 1e4), sz=st.floats(2e4, 1e5))
def test_uniform_slab_path_is_thickness_over_cosine(t, h, sx, sy, sz):
    """An oblique ray crosses a slab of thickness t over t / cos(angle), exactly."""
    slab = jnp.full((1, 8, 8), t)
    # a layer wide enough that every footprint stays inside it
    obj = LayeredObject(("W",), (Layer(h, slab, 500.0),))
    src = jnp.array([sx, sy, sz])
    L = path_lengths(obj, src, det_shape=DET, det_pixel_um=0.5)
    np.testing.assert_allclose(np.asarray(L[0]), t * _obliquity(src, DET, 0.5), rtol=2e-5)


@settings(max_examples=10, deadline=None)
@given(h=st.floats(100.0, 800.0), tilt=st.floats(2.0, 30.0), sign=st.sampled_from([-1.0, 1.0]),
       radius=st.floats(2e4, 1e5))
def test_layer_shift_exact_formula_for_tilted_source(h, tilt, sign, radius):
    """Feature at height h, source at (R sin t, 0, R cos t): image at -R sin t h / (R cos t - h),
    i.e. the first-order shift -h tan t divided by (1 - h / (R cos t))."""
    t = math.radians(sign * tilt)
    src = jnp.array([radius * math.sin(t), 0.0, radius * math.cos(t)])
    blob = jnp.zeros((1, 8, 8)).at[0, 3:5, 3:5].set(1.0)
    obj = LayeredObject(("W",), (Layer(h, blob, 0.5),))
    L = np.asarray(path_lengths(obj, src, det_shape=(4, 2048), det_pixel_um=0.5)[0], np.float64)
    u = np.asarray(detector_coordinates(2048, 0.5), np.float64)
    centroid = (L.sum(0) * u).sum() / L.sum()
    exact = -radius * math.sin(t) * h / (radius * math.cos(t) - h)
    assert centroid == pytest.approx(exact, abs=0.02)
    assert centroid / (-h * math.tan(t)) == pytest.approx(1 / (1 - h / (radius * math.cos(t))), rel=1e-3)


#: Heights in (0, ~1e-4) um lose up to 3 % of the mass at 2x oversampling (found by
#: hypothesis; see test_sub_angstrom_heights_lose_mass). Layers lie on the screen (0) or
#: at least a nanometre above it; the property is tested there.
HEIGHTS = st.one_of(st.just(0.0), st.floats(1e-3, 500.0))


@settings(max_examples=10, deadline=None)
@given(h=HEIGHTS, sx=st.floats(-2e4, 2e4), sz=st.floats(1e4, 5e4), oversample=st.sampled_from([1, 2]))
def test_projected_mass_is_conserved(h, sx, sz, oversample):
    """Box averaging conserves sum(L cos) x footprint area = layer volume."""
    _check_mass(h, sx, sz, oversample)


@pytest.mark.xfail(strict=True, reason="known bug, not yet understood: 0 < h < ~1e-4 um loses "
                   "0.2-3 % of a layer's mass at 2x oversampling (float32 boundary mapping)")
@pytest.mark.parametrize("h, sx, sz", [(1.192092896e-07, 1251.0, 1e4)])
def test_sub_angstrom_heights_lose_mass(h, sx, sz):
    _check_mass(h, sx, sz, 2)


def _check_mass(h, sx, sz, oversample, *, q=0.3, cells=(12, 10), det=(40, 40), seed=0):
    rng = np.random.default_rng(seed)
    layer_map = jnp.asarray(rng.uniform(0, 3, (1, *cells)), jnp.float32)
    # centre the layer on the ray through the detector centre so its whole image is in the window
    obj = LayeredObject(("W",), (Layer(h, layer_map, q, center_um=(sx * h / sz, 0.0)),))
    src = jnp.array([sx, 0.0, sz])
    L = path_lengths(obj, src, det_shape=det, det_pixel_um=0.4, oversample=oversample)[0]
    sample = 0.4 / oversample
    shape = (det[0] * oversample, det[1] * oversample)
    flat = np.asarray(L, np.float64) / _obliquity(src, shape, sample)
    footprint = (sample * (1 - h / sz)) ** 2
    assert flat.sum() * footprint == pytest.approx(float(layer_map.sum()) * q * q, rel=1e-4)


def _sphere_fractions(n, radius_vox, supersample=4):
    sub = (np.arange(supersample) - (supersample - 1) / 2) / supersample
    g = ((np.arange(n)[:, None] - (n - 1) / 2) + sub[None, :]).ravel()
    z, y, x = np.meshgrid(g, g, g, indexing="ij", sparse=True)
    inside = (x**2 + y**2 + z**2 <= radius_vox**2).astype(np.float32)
    return inside.reshape(n, supersample, n, supersample, n, supersample).mean(axis=(1, 3, 5))


def _sphere_chords(source, centre, radius, det_shape, pixel, sub=4):
    """Analytic chord of the sphere, averaged over sub x sub rays per detector sample."""
    s = np.asarray(source, np.float64)
    off = (np.arange(sub) - (sub - 1) / 2) / sub * pixel
    u = (np.asarray(detector_coordinates(det_shape[1], pixel))[:, None] + off).ravel()
    v = (np.asarray(detector_coordinates(det_shape[0], pixel))[:, None] + off).ravel()
    d = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.zeros((v.size, 1))), -1)
    direction = s - d
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    oc = d - np.asarray(centre)
    b = (oc * direction).sum(-1)
    chord = 2 * np.sqrt(np.clip(b**2 - ((oc**2).sum(-1) - radius**2), 0, None))
    return chord.reshape(det_shape[0], sub, det_shape[1], sub).mean(axis=(1, 3))


@pytest.mark.parametrize("sx", [0.0, 1500.0])
def test_voxel_sphere_matches_analytic_chords(sx):
    """Line integrals through a voxelised sphere (1 um voxels, detector samples of one voxel)."""
    n, vox, radius, bottom = 32, 1.0, 14.0, 10.0
    obj = VoxelObject(("W",), _sphere_fractions(n, radius)[None], (vox, vox, vox), bottom_um=bottom)
    s = np.array([sx, 0.0, 1e4])
    det = (40, 40)
    L = np.asarray(path_lengths(obj, jnp.asarray(s), det_shape=det, det_pixel_um=1.0)[0], np.float64)
    chord = _sphere_chords(s, [0.0, 0.0, bottom + n * vox / 2], radius, det, 1.0)
    inner = chord > 0.7 * 2 * radius  # away from the sphere's rim
    assert inner.sum() > 50
    np.testing.assert_allclose(L[inner], chord[inner], rtol=0.01)


def test_voxel_slab_equals_layered_slab():
    """A voxel slab of nz slices equals thin layers at the slice mid-heights."""
    f = np.zeros((2, 3, 20, 20), np.float32)
    f[0, :, 5:15, 5:15] = 0.5
    f[1, 1, 8:12, :] = 0.5
    vox = VoxelObject(("W", "Al"), f, (2.0, 1.0, 1.0), bottom_um=30.0)
    layers = tuple(Layer(30.0 + 2.0 * (k + 0.5), f[:, k] * 2.0, 1.0) for k in range(3))
    lay = LayeredObject(("W", "Al"), layers)
    src = jnp.array([800.0, -300.0, 5000.0])
    a = path_lengths(vox, src, det_shape=(24, 24), det_pixel_um=1.0, oversample=2)
    b = path_lengths(lay, src, det_shape=(24, 24), det_pixel_um=1.0, oversample=2)
    assert a.shape == (2, 48, 48)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_path_lengths_linear_jittable_and_differentiable():
    rng = np.random.default_rng(1)
    t1 = jnp.asarray(rng.uniform(0, 1, (1, 10, 10)), jnp.float32)
    t2 = jnp.asarray(rng.uniform(0, 1, (1, 10, 10)), jnp.float32)
    src = jnp.array([200.0, 100.0, 3000.0])

    def project(t):
        return path_lengths(LayeredObject(("W",), (Layer(100.0, t, 0.7),)), src, det_shape=(12, 12),
                            det_pixel_um=0.5)

    np.testing.assert_allclose(np.asarray(project(2.0 * t1 + 3.0 * t2)),
                               np.asarray(2.0 * project(t1) + 3.0 * project(t2)), rtol=1e-5, atol=1e-6)
    fast = jax.jit(path_lengths, static_argnames=("det_shape", "det_pixel_um", "oversample"))
    obj = LayeredObject(("W",), (Layer(100.0, t1, 0.7),))
    np.testing.assert_allclose(np.asarray(fast(obj, src, det_shape=(12, 12), det_pixel_um=0.5)),
                               np.asarray(project(t1)), rtol=1e-6)
    # gradient of a sum: each layer pixel's total weight (adjoint applied to ones)
    g = jax.grad(lambda t: project(t).sum())(t1)
    fd = (project(t1.at[0, 4, 4].add(0.1)).sum() - project(t1).sum()) / 0.1
    assert float(g[0, 4, 4]) == pytest.approx(float(fd), rel=1e-2)


def test_gradients_with_respect_to_geometry_match_finite_differences():
    """Heights, layer centres and the source position are differentiable, also on aligned grids."""
    blob = jnp.zeros((1, 16, 16)).at[0, 6:10, 6:10].set(1.0)
    src = jnp.array([2e4, 0.0, 5e4])
    u = detector_coordinates(1024, 0.5)

    def centroid_moment(obj, s):
        return (path_lengths(obj, s, det_shape=(8, 1024), det_pixel_um=0.5).sum(axis=(0, 1)) * u).sum()

    def obj_at(h, cx=0.0, cy=0.0):
        return LayeredObject(("W",), (Layer(h, blob, 0.5, center_um=(cx, cy)),))

    g_obj = jax.grad(centroid_moment)(obj_at(300.0), src)
    g_src = jax.grad(centroid_moment, argnums=1)(obj_at(300.0), src)
    fd = lambda f, d: (f(d) - f(-d)) / (2 * d)  # noqa: E731
    assert float(g_obj.layers[0].height_um) == pytest.approx(
        float(fd(lambda d: centroid_moment(obj_at(300.0 + d), src), 1.0)), rel=0.02)
    assert float(g_obj.layers[0].center_um[0]) == pytest.approx(
        float(fd(lambda d: centroid_moment(obj_at(300.0, cx=d), src), 0.1)), rel=0.02)
    assert float(g_obj.layers[0].center_um[1]) == pytest.approx(0.0, abs=0.05)  # y moves no x-moment
    for i in (0, 2):
        assert float(g_src[i]) == pytest.approx(
            float(fd(lambda d: centroid_moment(obj_at(300.0), src.at[i].add(d)), 1.0)), rel=0.02)


@settings(max_examples=20, deadline=None)
@given(l1=st.floats(0.01, 100.0), dl=st.floats(0.01, 50.0), scale=st.floats(1.01, 3.0))
def test_beer_lambert_monotone_in_thickness_and_attenuation(l1, dl, scale):
    energies = np.array([15.0, 25.0, 35.0, 45.0])
    mu = jnp.asarray(linear_attenuation_per_um("W", energies)[None], jnp.float32)
    w = jnp.array([0.2, 0.4, 0.3, 0.1])
    L = jnp.array([[l1, l1 + dl]])
    s = np.asarray(transmitted_signal(L, mu, w, method="direct"), np.float64)
    assert s[1] < s[0] or s[0] == 0.0
    assert s[0] <= float(w.sum()) + 1e-6
    s_more = np.asarray(transmitted_signal(L, mu * scale, w, method="direct"), np.float64)
    assert np.all(s_more <= s + 1e-12)
    assert s_more[0] < s[0] or s[0] == 0.0


def test_signal_matches_beer_lambert_by_hand():
    energies = np.array([20.0, 30.0, 40.0])
    mu = np.stack([linear_attenuation_per_um("W", energies), linear_attenuation_per_um("Al", energies)])
    w = np.array([1.0, 2.0, 0.5])
    L = np.array([[[0.0, 1.0], [3.0, 10.0]], [[0.0, 100.0], [50.0, 5.0]]])
    expected = np.einsum("e,eij->ij", w, np.exp(-np.einsum("me,mij->eij", mu, L)))
    got = transmitted_signal(jnp.asarray(L, jnp.float32), jnp.asarray(mu, jnp.float32),
                             jnp.asarray(w, jnp.float32), energy_chunk=2)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)


def test_lookup_table_agrees_with_direct_sum():
    """One material: the log-linear table is exact for one energy and ~1e-5 for a 50 kVp spectrum."""
    energies = np.arange(8.0, 50.0, 1.0)
    mu = jnp.asarray(linear_attenuation_per_um("W", energies)[None], jnp.float32)
    w = jnp.asarray(np.exp(-((energies - 25.0) / 10.0) ** 2), jnp.float32)  # spectrum-like weights
    L = jnp.asarray(np.random.default_rng(2).uniform(0, 30.0, (1, 64, 64)), jnp.float32)
    direct = np.asarray(transmitted_signal(L, mu, w, method="direct"), np.float64)
    lut = np.asarray(transmitted_signal(L, mu, w, method="lut"), np.float64)
    np.testing.assert_allclose(lut, direct, rtol=1e-4)
    mono = np.asarray(transmitted_signal(L, mu[:, 10:11], w[10:11], method="lut"), np.float64)
    np.testing.assert_allclose(mono, float(w[10]) * np.exp(-float(mu[0, 10]) * np.asarray(L[0], np.float64)),
                               rtol=2e-5)


def _box_average_reference(tmap, pixel, center, height, source, det_shape, sample):
    """Exact box average of a piecewise-constant map by 2D overlap areas (float64, loops)."""
    s = np.asarray(source, np.float64)
    scale = 1.0 - height / s[2]
    ny, nx = tmap.shape
    x_edges = center[0] - nx * pixel / 2 + pixel * np.arange(nx + 1)
    y_edges = center[1] - ny * pixel / 2 + pixel * np.arange(ny + 1)

    def overlaps(lower, edges):  # (n_det, n_src) overlap lengths of mapped boxes with pixels
        lo = lower[:, None] * scale
        hi = (lower[:, None] + sample) * scale
        return np.clip(np.minimum(hi, edges[None, 1:]) - np.maximum(lo, edges[None, :-1]), 0, None)

    rows, cols = det_shape
    ox = overlaps((np.arange(cols) - cols / 2) * sample, x_edges - s[0] * height / s[2])
    oy = overlaps((np.arange(rows) - rows / 2) * sample, y_edges - s[1] * height / s[2])
    area = (sample * scale) ** 2
    return oy @ np.asarray(tmap, np.float64) @ ox.T / area * _obliquity(source, det_shape, sample)


def test_path_lengths_equal_exact_overlap_areas():
    """The separable gathers (rows, then columns) give the 2D box average computed by areas."""
    rng = np.random.default_rng(7)
    tmap = rng.uniform(0.0, 3.0, (37, 45))
    src, h, pixel, center = (310.0, -170.0, 2600.0), 140.0, 0.61, (0.7, -1.3)
    obj = LayeredObject(("W",), (Layer(h, tmap[None].astype(np.float32), pixel, center),))
    got = np.asarray(path_lengths(obj, jnp.asarray(src), det_shape=(20, 26), det_pixel_um=1.3, oversample=2))[0]
    ref = _box_average_reference(tmap, pixel, center, h, src, (40, 52), 0.65)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * ref.max())


def _spectrum_like(kvp, energies):
    return np.where(energies < kvp, np.exp(-((energies - kvp / 2) / (kvp / 4)) ** 2), 0.0)


@settings(max_examples=12, deadline=None)
@given(material=st.sampled_from(["W", "Al", "Au"]), kvp=st.floats(30.0, 90.0),
       lengths=st.floats(0.05, 4.0), quanta=st.floats(1.0, 1e6))
def test_chebyshev_beer_lambert_matches_the_exact_sum(material, kvp, lengths, quanta):
    """Where the degree-16 interpolant is used (its error check passes) it is within 4e-6 per
    unit of log-attenuation of the exact polychromatic sum (float64 reference), at any number
    of quanta; where it is not, the result is the table's."""
    energies = np.arange(8.0, 90.0, 1.0)
    mu64 = linear_attenuation_per_um(material, energies)
    w64 = quanta * _spectrum_like(kvp, energies) / _spectrum_like(kvp, energies).sum()
    l_max = lengths / float(linear_attenuation_per_um(material, [kvp / 2])[0])
    mu, w = jnp.asarray(mu64[None], jnp.float32), jnp.asarray(w64, jnp.float32)
    L = np.linspace(0.0, l_max, 2001)
    exact = w64 @ np.exp(-mu64[:, None] * L[None, :])
    got = np.asarray(transmitted_signal(jnp.asarray(L[None], jnp.float32), mu, w, method="chebyshev"), np.float64)
    if float(chebyshev_log_signal(mu, w, l_max)[2]) <= CHEBYSHEV_TOL:
        np.testing.assert_allclose(got, exact, rtol=4e-6 * max(1.0, np.log(exact[0] / exact[-1])))
    else:
        lut = transmitted_signal(jnp.asarray(L[None], jnp.float32), mu, w, method="lut")
        np.testing.assert_array_equal(got, np.asarray(lut))


def test_chebyshev_is_used_for_the_published_chart():
    """The default scenario's 1 um W chart at 50 kVp (one attenuation length or less) takes the
    interpolant, within 2e-6 of the exact sum."""
    energies = np.arange(8.0, 50.0, 1.0)
    mu64 = linear_attenuation_per_um("W", energies)
    w64 = 300.0 * _spectrum_like(50.0, energies) / _spectrum_like(50.0, energies).sum()
    mu, w = jnp.asarray(mu64[None], jnp.float32), jnp.asarray(w64, jnp.float32)
    assert float(chebyshev_log_signal(mu, w, 1.06)[2]) <= CHEBYSHEV_TOL / 2
    L = np.linspace(0.0, 1.06, 2001)
    got = np.asarray(transmitted_signal(jnp.asarray(L[None], jnp.float32), mu, w), np.float64)
    np.testing.assert_allclose(got, w64 @ np.exp(-mu64[:, None] * L[None, :]), rtol=2e-6)


def test_chebyshev_gives_way_to_the_table_where_log_s_bends_sharply():
    """50 attenuation lengths of W at 90 kVp: the interpolant misses the tolerance, the table is
    used instead (same values as method='lut'), still within the table's accuracy."""
    energies = np.arange(8.0, 90.0, 1.0)
    mu64 = linear_attenuation_per_um("W", energies)
    w64 = _spectrum_like(90.0, energies)
    l_max = 50.0 / float(linear_attenuation_per_um("W", [45.0])[0])
    mu, w = jnp.asarray(mu64[None], jnp.float32), jnp.asarray(w64, jnp.float32)
    assert float(chebyshev_log_signal(mu, w, l_max)[2]) > CHEBYSHEV_TOL
    L = jnp.asarray(np.linspace(0.0, l_max, 2001)[None], jnp.float32)
    auto = np.asarray(transmitted_signal(L, mu, w), np.float64)
    np.testing.assert_array_equal(auto, np.asarray(transmitted_signal(L, mu, w, method="lut")))
    exact = w64 @ np.exp(-mu64[:, None] * np.asarray(L[0], np.float64)[None, :])
    np.testing.assert_allclose(auto, exact, rtol=1e-4)


def test_bad_input_names_the_key():
    good = jnp.ones((1, 4, 4))
    with pytest.raises(ValueError, match="layer.thickness_um"):
        Layer(10.0, -good, 1.0)
    with pytest.raises(ValueError, match="layer.thickness_um"):
        Layer(10.0, good.at[0, 0, 0].set(jnp.nan), 1.0)
    with pytest.raises(ValueError, match="layer.thickness_um"):
        Layer(10.0, jnp.ones((4, 4)), 1.0)
    with pytest.raises(ValueError, match="layer.height_um"):
        Layer(-1.0, good, 1.0)
    with pytest.raises(ValueError, match="object.layers"):
        LayeredObject(("W", "Al"), (Layer(10.0, good, 1.0),))
    with pytest.raises(ValueError, match="object.fractions"):
        VoxelObject(("W", "Al"), np.full((2, 2, 2, 2), 0.7), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="voxel_size_um"):
        VoxelObject(("W",), np.zeros((1, 2, 2, 2)), (1.0, 0.0, 1.0))
    obj = LayeredObject(("W",), (Layer(100.0, good, 1.0),))
    with pytest.raises(ValueError, match="source_um"):
        path_lengths(obj, jnp.array([0.0, 0.0, 50.0]), det_shape=(4, 4), det_pixel_um=1.0)
    with pytest.raises(ValueError, match="det_shape"):
        path_lengths(obj, jnp.array([0.0, 0.0, 5e4]), det_shape=(4, 0), det_pixel_um=1.0)
    with pytest.raises(ValueError, match="mu_per_um"):
        transmitted_signal(jnp.ones((2, 3, 3)), jnp.ones((1, 4)), jnp.ones(4))
    with pytest.raises(ValueError, match="weights"):
        transmitted_signal(jnp.ones((1, 3, 3)), jnp.ones((1, 4)), -jnp.ones(4))
    with pytest.raises(ValueError, match="method"):
        transmitted_signal(jnp.ones((2, 3, 3)), jnp.ones((2, 4)), jnp.ones(4), method="lut")


@settings(max_examples=15, deadline=None, derandomize=True)
@given(ratio=st.floats(1.5, 6.0), scale=st.floats(0.8, 1.0), shift=st.floats(-3.0, 3.0),
       seed=st.integers(0, 2**31), axis=st.sampled_from([-1, -2]))
def test_wide_samples_take_box_integrals_equal_to_the_taps(ratio, scale, shift, seed, axis):
    """Samples wider than MAX_OVERLAP_TAPS pixels use cumulative-sum box integrals; where
    the taps also cover the samples, both forms give the same box averages (float32)."""
    from physics import projection as P

    rng = np.random.default_rng(seed)
    values = jnp.asarray(rng.uniform(0, 3, (1, 30, 30)), jnp.float32)
    pixel, n_det = 0.3, 9
    sample = ratio * pixel
    start = -15 * pixel
    taps = int(math.ceil(sample / pixel)) + 1
    assert taps <= P.MAX_OVERLAP_TAPS < P.MAX_OVERLAP_TAPS + 1
    by_taps = P._overlap_resample(values, n_det, sample, scale, shift, pixel, start, taps, axis=axis)
    by_integrals = P._overlap_resample(values, n_det, sample, scale, shift, pixel, start,
                                       P.MAX_OVERLAP_TAPS + 1, axis=axis)
    np.testing.assert_allclose(by_integrals, by_taps, rtol=2e-5, atol=2e-5)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(h=HEIGHTS, sx=st.floats(-2e4, 2e4), sz=st.floats(1e4, 5e4))
def test_fine_layers_keep_their_mass_through_the_box_integrals(h, sx, sz):
    """A layer of 0.02 um cells seen by 0.4 um samples (21 taps: the box-integral form)
    conserves sum(L cos) x footprint area = layer volume, as the taps do."""
    _check_mass(h, sx, sz, 1, q=0.02, cells=(60, 50), det=(12, 12), seed=1)
