"""Benchmark: cone-beam path lengths and polychromatic Beer-Lambert on a full frame.

Prints wall times (after compilation, best of ``--repeat``) and ratios to a plain
FFT convolution of the detector-sized image measured in the same process (the
floor for one blur of the frame).

    python bench/projection.py                  # 2048x2048 detector, 2x oversampling
    python bench/projection.py --size 512 --oversample 1
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from physics.materials import linear_attenuation_per_um
from physics.phantoms import chart_stack_3d
from physics.projection import path_lengths, transmitted_signal
from physics.spectrum import tube_spectrum


def best_time(fn, repeat):
    jax.block_until_ready(fn())  # compile + warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="detector rows = cols (pixels)")
    ap.add_argument("--oversample", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, os_ = args.size, args.oversample
    pixel = 6.5 / 16
    sample = pixel / os_

    # reference: FFT convolution of one detector-sized frame with a same-sized kernel
    img = jax.random.uniform(jax.random.PRNGKey(0), (n, n))
    ker = jax.random.uniform(jax.random.PRNGKey(1), (n, n))
    fft_conv = jax.jit(lambda a, b: jnp.fft.irfft2(jnp.fft.rfft2(a) * jnp.fft.rfft2(b), s=a.shape))
    t_fft = best_time(lambda: fft_conv(img, ker), args.repeat)
    print(f"reference: {n}x{n} FFT convolution: {t_fft * 1e3:.1f} ms")

    # object: 3-layer chart stack on the oversampled grid (one material, W)
    obj, _ = chart_stack_3d(jax.random.PRNGKey(2), pixel_size_um=sample, shape=(n * os_, n * os_))
    t = np.deg2rad(15.0)
    src = jnp.array([5e4 * np.sin(t), 0.0, 5e4 * np.cos(t)])
    project = jax.jit(lambda o, s: path_lengths(o, s, det_shape=(n, n), det_pixel_um=pixel, oversample=os_))
    t_pl = best_time(lambda: project(obj, src), args.repeat)
    print(f"path_lengths, 3 layers -> {n * os_}x{n * os_} samples: {t_pl * 1e3:.1f} ms "
          f"({t_pl / t_fft:.2f} FFT convolutions)")

    spec = tube_spectrum(kvp=50.0).trimmed()
    mu = jnp.asarray(linear_attenuation_per_um("W", spec.energies_kev)[None], jnp.float32)
    w = jnp.asarray(spec.photons / spec.photons.sum() * spec.energies_kev, jnp.float32)
    L = project(obj, src)
    t_direct = best_time(lambda: transmitted_signal(L, mu, w, method="direct"), args.repeat)
    t_lut = best_time(lambda: transmitted_signal(L, mu, w, method="lut"), args.repeat)
    t_cheb = best_time(lambda: transmitted_signal(L, mu, w, method="chebyshev"), args.repeat)
    direct = transmitted_signal(L, mu, w, method="direct")
    errs = {m: float(jnp.max(jnp.abs(transmitted_signal(L, mu, w, method=m) - direct) / direct))
            for m in ("lut", "chebyshev")}
    print(f"transmitted_signal, {mu.shape[1]} energy bins, {n * os_}x{n * os_}: direct {t_direct * 1e3:.1f} ms "
          f"({t_direct / t_fft:.2f} FFT), lookup table {t_lut * 1e3:.1f} ms ({t_lut / t_fft:.2f} FFT, "
          f"max relative difference {errs['lut']:.1e}), Chebyshev (the default) {t_cheb * 1e3:.1f} ms "
          f"({t_cheb / t_fft:.2f} FFT, max relative difference {errs['chebyshev']:.1e})")

if __name__ == "__main__":
    main()
