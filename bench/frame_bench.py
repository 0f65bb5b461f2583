"""Benchmark: one full 2048x2048 polychromatic frame of the default scenario, by stage.

Run:  python bench/frame_bench.py [--size 2048] [--repeats 3] [--oversample N]

Prints the time of each stage of the chain (after compilation; compile time is
reported separately) beside the time of a plain 2048x2048 FFT convolution measured
in the same process - the floor for one blur - and the ratio. Goal: a full frame in
under 10 FFT-convolution times. The reference is re-timed beside every stage and each
stage is divided by its neighbour (the machine's load drifts during a run). The stages are those of the one frame model
(physics.camera.sample_frame): Poisson X-ray quanta on the field, the PSF and the pixel
integration in one exact polyphase step (physics.psf.apply_psf_binned), the camera.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="frame side in camera pixels")
    ap.add_argument("--repeats", type=int, default=3)
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

    refs = {}

    def stage(name, fn, *args):
        # Arrays go in as arguments (not closed over), so XLA does not constant-fold them.
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        compile_s[name] = time.perf_counter() - t
        stages[name], out = best_of(lambda: fn(*args), args_repeats)
        # The reference is re-timed beside every stage: on a shared machine the load drifts
        # during the run, and a ratio to a convolution timed minutes earlier drifts with it.
        refs[name] = best_of(lambda: conv(ref_field, ref_kernel), args_repeats)[0]
        return out

    args_repeats = args.repeats
    stages["detector response (spectrum, PSF)"], _ = best_of(response_fn, args.repeats)
    compile_s["detector response (spectrum, PSF)"] = first_response
    refs["detector response (spectrum, PSF)"] = best_of(lambda: conv(ref_field, ref_kernel), args.repeats)[0]
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

    total = sum(stages.values())
    ratio = sum(stages[k] / refs[k] for k in stages)
    print(f"\nreference: plain {n}x{n} FFT convolution ({psf_size}x{psf_size} kernel): {t_ref * 1e3:.1f} ms "
          f"at the start, {min(refs.values()) * 1e3:.1f}-{max(refs.values()) * 1e3:.1f} ms beside the stages")
    print(f"{'stage':42s} {'time':>10s} {'x ref':>7s} {'compile':>9s}")
    for name, t in stages.items():
        print(f"{name:42s} {t * 1e3:8.1f} ms {t / refs[name]:7.2f} {compile_s[name]:8.2f} s")
    print(f"{'full frame':42s} {total * 1e3:8.1f} ms {ratio:7.2f}  (sum of per-stage ratios)")
    print(f"(scene set-up, phantom rendering: {build_s:.2f} s, once per scenario)")
    print(f"goal: full frame < 10 FFT-convolution times -> {'met' if ratio < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
