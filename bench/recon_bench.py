"""Throughput of the distance-driven projectors (voxel-view updates per second).

Cases (issue 3):
* 2D: 512 x 512 volume, 41 views over 40 degrees, 1024 detector pixels;
* 3D: 256 x 256 x 64 volume, 25 views, 512 x 512 detector.

Each is timed after compilation (best of ``--repeat``), with compilation timed
separately; peak memory is the process's maximum RSS (resource) and the peak of
Python-level allocations (tracemalloc). When ``astra-toolbox`` is importable, the 2D case
also runs through ASTRA's CPU ``line_fanflat`` projector in this process, interleaved with
ours over ``--rounds`` rounds (the machine is shared, so both see the same load), and the
ratios of the best and of the median times are printed with the load average.
Run: ``python bench/recon_bench.py`` (``--skip-3d`` for the 2D case only).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np

import recon

R_UM = 1.0e4  # source-to-scintillator distance, assumed (about 10 mm for a micro-focus tube)


def _best(fn, repeat):
    times, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(times), min(cpu)


def _case(name, geom, repeat):
    vox_views = float(np.prod(geom.vol_shape)) * geom.n_views
    x = jnp.ones(geom.vol_shape, jnp.float32)
    t0 = time.perf_counter()
    p = jax.block_until_ready(recon.forward_project(x, geom))
    first_fp = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(recon.back_project(p, geom))
    first_bp = time.perf_counter() - t0
    fp, fp_cpu = _best(lambda: recon.forward_project(x, geom), repeat)
    bp, bp_cpu = _best(lambda: recon.back_project(p, geom), repeat)
    print(f"{name}: volume {geom.vol_shape}, {geom.n_views} views, detector {geom.det_shape}")
    print(f"  forward : {vox_views / fp / 1e6:8.1f} M voxel-view/s  ({fp:.3f} s wall, {fp_cpu:.3f} s cpu;"
          f" compile+first run {first_fp:.2f} s)")
    print(f"  back    : {vox_views / bp / 1e6:8.1f} M voxel-view/s  ({bp:.3f} s wall, {bp_cpu:.3f} s cpu;"
          f" compile+first run {first_bp:.2f} s)")
    return {"fp": fp, "bp": bp, "fp_cpu": fp_cpu, "bp_cpu": bp_cpu, "vv": vox_views, "proj": p}


def _astra_2d(geom, ours, repeat, rounds):
    """ASTRA line_fanflat on the same case, interleaved with ours round by round."""
    try:
        import astra
    except ImportError as exc:
        print(f"  ASTRA: not installed ({exc}); `pip install astra-toolbox` for the reference")
        return None
    proj_geom, vol_geom = geom.to_astra()
    pid = astra.create_projector("line_fanflat", proj_geom, vol_geom)
    x = np.ones(geom.vol_shape, np.float32)

    def fp():
        sid, sino = astra.create_sino(x, pid)
        astra.data2d.delete(sid)
        return sino

    sino = fp()

    def bp():
        bid, vol = astra.create_backprojection(sino, pid)
        astra.data2d.delete(bid)
        return vol

    xj, pj = jnp.ones(geom.vol_shape, jnp.float32), ours["proj"]
    runs = {"ours fp": lambda: recon.forward_project(xj, geom), "astra fp": fp,
            "ours bp": lambda: recon.back_project(pj, geom), "astra bp": bp}
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            times[name].append(_best(fn, repeat))
    astra.projector.delete(pid)
    return {"times": times, "sino": sino}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved ours/ASTRA rounds (2D)")
    parser.add_argument("--skip-3d", action="store_true")
    args = parser.parse_args(argv)
    tracemalloc.start()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs: wall times vary, cpu times are steadier); jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")

    g2 = recon.tomosynthesis_2d(n_views=41, arc_deg=40, source_distance_um=R_UM, det_cols=1024,
                                det_pixel_um=recon.geometry.DEFAULT_DET_PIXEL_UM,
                                vol_shape=(512, 512), voxel_um=0.5, z_range=(10, 10 + 256))
    print("load average at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    ours = _case("2D", g2, args.repeat)
    ref = _astra_2d(g2, ours, args.repeat, args.rounds)
    if ref is not None:
        inner = ref["sino"] > 0.5 * ref["sino"].max()
        diff = np.median(np.abs(np.asarray(ours["proj"]) - ref["sino"])[inner] / ref["sino"][inner])
        t = {k: np.array(v) for k, v in ref["times"].items()}  # (rounds, [wall, cpu])
        print(f"  interleaved with ASTRA line_fanflat (CPU), {args.rounds} rounds of best-of-{args.repeat}; "
              f"median |ours - ASTRA| / ASTRA = {diff:.2e}")
        for name in t:
            print(f"    {name}: {ours['vv'] / t[name][:, 0].min() / 1e6:6.1f} M/s best, "
                  f"{ours['vv'] / np.median(t[name][:, 0]) / 1e6:6.1f} M/s median "
                  f"(wall {t[name][:, 0].min() * 1e3:.0f} ms, cpu {t[name][:, 1].min() * 1e3:.0f} ms)")
        for op in ("fp", "bp"):
            a, o = t[f"astra {op}"], t[f"ours {op}"]
            print(f"  ratio ours/ASTRA speed, {'forward' if op == 'fp' else 'back'}: "
                  f"{a[:, 0].min() / o[:, 0].min():.2f}x best wall, "
                  f"{np.median(a[:, 0]) / np.median(o[:, 0]):.2f}x median wall, "
                  f"{a[:, 1].min() / o[:, 1].min():.2f}x cpu time")
        print("load average after 2D: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    if not args.skip_3d:
        g3 = recon.tomosynthesis(n_views=25, arc_deg=40, source_distance_um=R_UM, det_shape=(512, 512),
                                 det_pixel_um=recon.geometry.DEFAULT_DET_PIXEL_UM,
                                 vol_shape=(64, 256, 256), voxel_um=0.8, z_range=(10, 10 + 64 * 0.8))
        three = _case("3D", g3, max(1, args.repeat // 3))
        # Large case estimate from the measured 3D rate (cost ~ voxels x views x detector/vol ratio)
        big = 256 * 1024 * 1024 * 41 * (2048 * 2048 / (1024 * 1024)) / (512 * 512 / (256 * 256))
        print(f"  1024x1024x256 / 41 views / 2048^2 estimate: forward ~{big / three['vv'] * three['fp']:.0f} s,"
              f" back ~{big / three['vv'] * three['bp']:.0f} s at this rate")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    _, peak_py = tracemalloc.get_traced_memory()
    print(f"peak memory: {peak_rss:.0f} MiB max RSS (process), {peak_py / 2**20:.0f} MiB peak "
          f"Python allocations (tracemalloc; XLA buffers are outside it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
