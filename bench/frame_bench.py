"""Benchmark: one full 2048x2048 polychromatic frame of the default scenario, by stage.

Run:  python bench/frame_bench.py [--size 2048] [--repeats 3] [--oversample N]

Prints the time of each stage of the chain (after compilation; compile time is
reported separately) beside the time of a plain 2048x2048 FFT convolution measured
in the same process - the floor for one blur - and the ratio. Goal: a full frame in
under 10 FFT-convolution times. The machine's load drifts during a run, so every
stage is timed in ``--repeats`` rounds, each round timing the stage and then the
reference, and the stage's ratio is the median of the per-round ratios (the times
printed are the fastest round). The stages are those of the one frame model
(physics.camera.sample_frame): Poisson X-ray quanta on the field, the PSF and the pixel
integration in one exact polyphase step (physics.psf.apply_psf_binned), the camera.
The last line times the frame as the product makes it: one call of
physics.chain.sample_view (projection to ADU, detector response given), with the same
paired reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physics import chain, materials  # noqa: E402
from physics.camera import poisson_counts, sample_adu  # noqa: E402
from physics.projection import path_lengths, transmitted_signal  # noqa: E402
from physics.psf import apply_psf, apply_psf_binned  # noqa: E402
from twin.scenario import load_scenario  # noqa: E402
from twin.system import build_setup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeats):
    out = fn()
    jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times), out


def paired(fn, ref, repeats):
    """Fastest time of ``fn`` and the median over rounds of ``time(fn) / time(ref)``."""
    times, ratios = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        t_fn = time.perf_counter() - t
        t = time.perf_counter()
        jax.block_until_ready(ref())
        ratios.append(t_fn / (time.perf_counter() - t))
        times.append(t_fn)
    return min(times), float(np.median(ratios))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="frame side in camera pixels")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--oversample", type=int, default=None,
                    help="field cells per pixel side (default: the scenario's)")
    args = ap.parse_args()
    n = args.size

    overrides = {"camera.roi_rows": n, "camera.roi_cols": n, "object.phantom": "chart"}
    if args.oversample:
        overrides["acquisition.oversample"] = args.oversample
    scenario = load_scenario(ROOT / "scenarios" / "published_system.toml").with_values(overrides)
    t0 = time.perf_counter()
    setup = build_setup(scenario)
    build_s = time.perf_counter() - t0
    system, obj = setup.system, setup.obj
    source = np.asarray(setup.geometry.source_positions_um[0], np.float32)
    os_ = system.oversample
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"frame {n}x{n} camera pixels, oversample {os_} -> field {n * os_}x{n * os_}, "
          f"{len(system.spectrum.trimmed().energies_kev)} energy bins, materials {obj.materials}")

    # Reference: a plain 2048^2 FFT convolution (same kernel size as the chain's PSF).
    psf_size = chain.psf_support(system)
    ref_field = jax.random.uniform(jax.random.PRNGKey(0), (n, n), jnp.float32)
    ref_kernel = jnp.ones((psf_size, psf_size), jnp.float32) / psf_size**2
    conv = jax.jit(apply_psf)
    t_ref, _ = best_of(lambda: conv(ref_field, ref_kernel), args.repeats)

    response_fn = lambda: chain.view_response(system, source, object_plane_um=setup.focus_plane_um)  # noqa: E731
    t = time.perf_counter()
    response = response_fn()
    jax.block_until_ready(response.psf)
    first_response = time.perf_counter() - t
    mu = jnp.stack([jnp.asarray(materials.linear_attenuation_per_um(m, response.energies_kev), jnp.float32)
                    for m in obj.materials])

    stages = {}
    compile_s = {}
    ratios = {}
    ref_fn = lambda: conv(ref_field, ref_kernel)  # noqa: E731

    repeats = args.repeats

    def stage(name, fn, *args):
        # Arrays go in as arguments (not closed over), so XLA does not constant-fold them.
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        compile_s[name] = time.perf_counter() - t
        # The reference is re-timed beside every round: on a shared machine the load drifts
        # during the run, and a ratio to a convolution timed minutes earlier drifts with it.
        stages[name], ratios[name] = paired(lambda: fn(*args), ref_fn, repeats)
        return out

    name = "detector response (spectrum, PSF)"
    stages[name], ratios[name] = paired(response_fn, ref_fn, args.repeats)
    compile_s[name] = first_response
    lengths = stage("path lengths (projection)",
                    lambda: path_lengths(obj, source, det_shape=system.roi_shape, det_pixel_um=system.pixel_um,
                                         oversample=os_))
    quanta = stage("polychromatic Beer-Lambert", transmitted_signal, lengths, mu, response.quanta_weights)
    key = jax.random.PRNGKey(1)
    noisy = stage("X-ray quantum noise (Poisson)", jax.jit(poisson_counts), key, quanta)
    electrons = stage("PSF + pixel integration (one exact step)",
                      jax.jit(lambda q, k, g: apply_psf_binned(q, k, os_) * g),
                      noisy, response.psf, response.electrons_per_quantum)
    stage("camera (Poisson e-, read noise, ADC)",
          jax.jit(lambda k, e: sample_adu(k, e, camera=system.camera, exposure_s=system.exposure_s)),
          key, electrons)

    # The frame as the product makes it: one call of chain.sample_view (detector response given).
    view = lambda: chain.sample_view(key, system, obj, source, response=response)  # noqa: E731
    t = time.perf_counter()
    jax.block_until_ready(view())
    view_compile = time.perf_counter() - t
    t_view, ratio_view = paired(view, ref_fn, args.repeats)

    total = sum(stages.values())
    ratio = sum(ratios.values())
    t_end = best_of(ref_fn, args.repeats)[0]
    print(f"\nreference: plain {n}x{n} FFT convolution ({psf_size}x{psf_size} kernel): {t_ref * 1e3:.1f} ms "
          f"at the start, {t_end * 1e3:.1f} ms at the end; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"{'stage':42s} {'time':>10s} {'x ref':>7s} {'compile':>9s}")
    for name, t in stages.items():
        print(f"{name:42s} {t * 1e3:8.1f} ms {ratios[name]:7.2f} {compile_s[name]:8.2f} s")
    print(f"{'full frame':42s} {total * 1e3:8.1f} ms {ratio:7.2f}  (sum of per-stage ratios)")
    print(f"{'full frame, one chain.sample_view call':42s} {t_view * 1e3:8.1f} ms {ratio_view:7.2f} "
          f"{view_compile:8.2f} s  (response excluded)")
    print(f"(scene set-up, phantom rendering: {build_s:.2f} s, once per scenario)")
    product = ratios["detector response (spectrum, PSF)"] + ratio_view
    print(f"goal: full frame < 10 FFT-convolution times -> sum of stages {ratio:.2f}: "
          f"{'met' if ratio < 10 else 'NOT met'}; as the product runs it (response + one call) "
          f"{product:.2f}: {'met' if product < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
