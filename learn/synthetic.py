"""Random synthetic sharp scenes for training, rendered in JAX from explicit keys.

A scene is a uniform background with a smooth gradient on which, in order, cell-like
blobs (ellipses, some with a nucleus), bar gratings (line-and-space charts of random
pitch, duty cycle and arbitrary orientation, inside a rotated window), a Siemens star
and text-like strokes (capsule segments clustered into "words") are painted with
"over" compositing. Every primitive is anti-aliased by its signed distance in pixels
(coverage = clip(0.5 - d, 0, 1), exact for a straight edge crossing a pixel
orthogonally). Same key -> same image, bit for bit.

Units: everything here is in high-resolution pixels; the physical pixel size only
matters to the caller (these are intensity images in 0..1, not thickness maps).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

# Counts and ranges below are assumed: chosen so a 192x192 scene holds a few of each
# structure and pitches span from 2.5 px (beyond the LR Nyquist limit at s=2..4) to 40 px.
N_GRATINGS, N_STARS, N_BLOBS, N_STROKES = 3, 1, 10, 16
PITCH_RANGE_PX = (2.5, 40.0)
STROKE_HALF_WIDTH_PX = (0.6, 3.0)


def _coverage(d):
    return jnp.clip(0.5 - d, 0.0, 1.0)


def _rot(xx, yy, cx, cy, theta):
    c, s = jnp.cos(theta), jnp.sin(theta)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    return u, v


def _box_sdf(u, v, hu, hv):
    du, dv = jnp.abs(u) - hu, jnp.abs(v) - hv
    outside = jnp.hypot(jnp.maximum(du, 0.0), jnp.maximum(dv, 0.0))
    return outside + jnp.minimum(jnp.maximum(du, dv), 0.0)


def grating(key, xx, yy):
    """Bar grating of random pitch, duty cycle and angle inside a rotated square window."""
    size = jnp.maximum(xx.max(), yy.max()) + 1.0
    k = jax.random.split(key, 6)
    theta = jax.random.uniform(k[0], (), minval=0.0, maxval=jnp.pi)
    pitch = jnp.exp(jax.random.uniform(k[1], (), minval=jnp.log(PITCH_RANGE_PX[0]),
                                       maxval=jnp.log(PITCH_RANGE_PX[1])))
    duty = jax.random.uniform(k[2], (), minval=0.3, maxval=0.7)
    cx, cy = jax.random.uniform(k[3], (2,), minval=0.1, maxval=0.9) * size
    half = jax.random.uniform(k[4], (2,), minval=0.1, maxval=0.45) * size
    phase = jax.random.uniform(k[5], ()) * pitch
    u, v = _rot(xx, yy, cx, cy, theta)
    w = jnp.mod(u - phase, pitch)
    d_bar = jnp.abs(w - 0.5 * pitch) - 0.5 * duty * pitch
    return _coverage(d_bar) * _coverage(_box_sdf(u, v, half[0], half[1]))


def star(key, xx, yy):
    """Siemens star with 8..48 spokes, random radius, centre and rotation."""
    size = jnp.maximum(xx.max(), yy.max()) + 1.0
    k = jax.random.split(key, 4)
    n = jax.random.randint(k[0], (), 8, 49).astype(jnp.float32)
    radius = jax.random.uniform(k[1], (), minval=0.2, maxval=0.5) * size
    cx, cy = jax.random.uniform(k[2], (2,), minval=0.2, maxval=0.8) * size
    rot = jax.random.uniform(k[3], ()) * 2 * jnp.pi
    r = jnp.hypot(xx - cx, yy - cy)
    period = 2 * jnp.pi / n
    a = jnp.mod(jnp.arctan2(yy - cy, xx - cx) - rot, period)
    d_spoke = r * jnp.sin(jnp.abs(a - 0.5 * period) - 0.25 * period)
    return _coverage(d_spoke) * _coverage(r - radius)


def blob(key, xx, yy):
    """Cell-like ellipse (semi-axes 2..25 px) with, half of the time, a darker nucleus."""
    size = jnp.maximum(xx.max(), yy.max()) + 1.0
    k = jax.random.split(key, 5)
    cx, cy = jax.random.uniform(k[0], (2,), minval=0.0, maxval=1.0) * size
    ab = jnp.exp(jax.random.uniform(k[1], (2,), minval=jnp.log(2.0), maxval=jnp.log(25.0)))
    theta = jax.random.uniform(k[2], ()) * jnp.pi
    u, v = _rot(xx, yy, cx, cy, theta)

    def ellipse(a, b):
        return (jnp.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * jnp.minimum(a, b)

    body = _coverage(ellipse(ab[0], ab[1]))
    nucleus = _coverage(ellipse(0.35 * ab[0], 0.35 * ab[1]))
    has_nucleus = jax.random.bernoulli(k[3], 0.5)
    depth = jax.random.uniform(k[4], (), minval=0.3, maxval=0.7)
    return body * (1.0 - has_nucleus * depth * nucleus)


def stroke(key, xx, yy, anchor):
    """Text-like stroke: a capsule segment near ``anchor`` (a "word" centre)."""
    k = jax.random.split(key, 4)
    p0 = anchor + jax.random.uniform(k[0], (2,), minval=-20.0, maxval=20.0)
    length = jax.random.uniform(k[1], (), minval=4.0, maxval=24.0)
    theta = jax.random.uniform(k[2], ()) * 2 * jnp.pi
    half_width = jax.random.uniform(k[3], (), minval=STROKE_HALF_WIDTH_PX[0],
                                    maxval=STROKE_HALF_WIDTH_PX[1])
    d = jnp.stack([jnp.cos(theta), jnp.sin(theta)])
    px, py = xx - p0[0], yy - p0[1]
    t = jnp.clip(px * d[0] + py * d[1], 0.0, length)
    dist = jnp.hypot(px - t * d[0], py - t * d[1])
    return _coverage(dist - half_width)


@partial(jax.jit, static_argnames=("shape",))
def render_scene(key, shape: tuple[int, int] = (192, 192)):
    """Render one random scene of ``shape`` (rows, cols), intensities in [0, 1].

    Parameters
    ----------
    key : jax.random key
    shape : tuple of int
        Output size in HR pixels.

    Returns
    -------
    jnp.ndarray, float32, shape ``shape``
    """
    yy, xx = jnp.meshgrid(jnp.arange(shape[0], dtype=jnp.float32),
                          jnp.arange(shape[1], dtype=jnp.float32), indexing="ij")
    size = float(max(shape))
    k_bg, k_grad, k_g, k_s, k_b, k_t, k_anchor, k_lvl, k_on = jax.random.split(key, 9)
    g = jax.random.normal(k_grad, (2,)) * 0.1
    img = (jax.random.uniform(k_bg, ()) + g[0] * (xx / size - 0.5) + g[1] * (yy / size - 0.5))

    covs = [
        jax.vmap(blob, (0, None, None))(jax.random.split(k_b, N_BLOBS), xx, yy),
        jax.vmap(grating, (0, None, None))(jax.random.split(k_g, N_GRATINGS), xx, yy),
        jax.vmap(star, (0, None, None))(jax.random.split(k_s, N_STARS), xx, yy),
    ]
    anchors = jax.random.uniform(k_anchor, (N_STROKES // 4, 2)) * size
    anchors = jnp.repeat(anchors, 4, axis=0)  # four strokes per "word"
    covs.append(jax.vmap(stroke, (0, None, None, 0))(jax.random.split(k_t, N_STROKES), xx, yy, anchors))
    cov = jnp.concatenate(covs, axis=0)
    n = cov.shape[0]
    p_on = jnp.concatenate([jnp.full(N_BLOBS, 0.6), jnp.full(N_GRATINGS, 0.7),
                            jnp.full(N_STARS, 0.35), jnp.full(N_STROKES, 0.5)])
    on = jax.random.bernoulli(k_on, p_on)
    level = jax.random.uniform(k_lvl, (n,))

    def paint(canvas, inputs):
        c, lv, o = inputs
        c = c * o
        return canvas * (1.0 - c) + lv * c, None

    img, _ = jax.lax.scan(paint, img, (cov, level, on.astype(jnp.float32)))
    return jnp.clip(img, 0.0, 1.0).astype(jnp.float32)


def render_scenes(key, indices, shape: tuple[int, int] = (192, 192)):
    """Scenes number ``indices`` of the stream ``key`` (scene ``i`` uses ``fold_in(key, i)``).

    Returns an array of shape ``(len(indices), *shape)``; a scene does not depend on
    which other scenes are rendered with it, so shards can be made in any order.
    """
    indices = jnp.asarray(indices, dtype=jnp.uint32)
    if indices.ndim != 1 or indices.size < 1:
        raise ValueError(f"indices: expected a non-empty 1D array, got shape {indices.shape}")
    return _render_many(key, indices, tuple(int(v) for v in shape))


@partial(jax.jit, static_argnames=("shape",))
def _render_many(key, indices, shape):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)
    return jax.lax.map(lambda k: render_scene(k, shape), keys)
