"""Throughput of the distance-driven projectors (voxel-view updates per second).

Cases (issue 3):
* 2D: 512 x 512 volume, 41 views over 40 degrees, 1024 detector pixels;
* 3D: 256 x 256 x 64 volume, 25 views, 512 x 512 detector.

Each is timed after compilation (best of ``--repeat``), with compilation timed
separately; peak memory is the process's maximum RSS (resource) and the peak of
Python-level allocations (tracemalloc). When ``astra-toolbox`` is importable, the 2D case
also runs through ASTRA's CPU ``line_fanflat`` projector in this process and the ratio is
printed. Run: ``python bench/recon_bench.py`` (``--skip-3d`` for the 2D case only).
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


def _astra_2d(geom, repeat):
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

    t_fp, c_fp = _best(fp, repeat)
    t_bp, c_bp = _best(bp, repeat)
    astra.projector.delete(pid)
    return {"fp": t_fp, "bp": t_bp, "fp_cpu": c_fp, "bp_cpu": c_bp, "sino": sino}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-3d", action="store_true")
    args = parser.parse_args(argv)
    tracemalloc.start()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs: wall times vary, cpu times are steadier); jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")

    g2 = recon.tomosynthesis_2d(n_views=41, arc_deg=40, source_distance_um=R_UM, det_cols=1024,
                                det_pixel_um=recon.geometry.DEFAULT_DET_PIXEL_UM,
                                vol_shape=(512, 512), voxel_um=0.5, z_range=(10, 10 + 256))
    ours = _case("2D", g2, args.repeat)
    ref = _astra_2d(g2, args.repeat)
    if ref is not None:
        inner = ref["sino"] > 0.5 * ref["sino"].max()
        diff = np.median(np.abs(np.asarray(ours["proj"]) - ref["sino"])[inner] / ref["sino"][inner])
        print(f"  ASTRA line_fanflat (CPU): forward {ours['vv'] / ref['fp'] / 1e6:.1f} M/s, "
              f"back {ours['vv'] / ref['bp'] / 1e6:.1f} M/s; median |ours - ASTRA| / ASTRA = {diff:.2e}")
        print(f"  ratio ours/ASTRA speed: forward {ref['fp'] / ours['fp']:.2f}x wall "
              f"({ref['fp_cpu'] / ours['fp_cpu']:.2f}x cpu), back {ref['bp'] / ours['bp']:.2f}x wall "
              f"({ref['bp_cpu'] / ours['bp_cpu']:.2f}x cpu)")
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
