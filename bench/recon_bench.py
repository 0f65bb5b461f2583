"""Throughput of the distance-driven projectors (voxel-view updates per second).

Cases (issues 3 and 10):
* measured: TomoPy's tooth sinogram (tests/data/sinogram: parallel beam, 181 views over
  180 degrees, 593 pixels, 593 x 593 volume): FBP, SIRT, SART, CGLS, forward and back
  projection, ours and ASTRA's CPU algorithms interleaved in this process (``linear``
  projector, ASTRA's fastest CPU one here);
* 2D: 512 x 512 volume, 41 views over 40 degrees, 1024 detector pixels;
* 3D: 256 x 256 x 64 volume, 25 views, 512 x 512 detector;
* cone: circular cone-beam CT (the general 3D path: slices do not map onto the detector
  by a scale and a shift), 128^3 volume of 1 um voxels, 90 views over 360 degrees,
  128 x 160 detector of 1 um pixels, source 2 mm from the axis, detector 0.5 mm behind it;
* 2D, 3D and cone are also run with ``kernel="xla"`` (everything in JAX, no compiled loops
  of recon.native) in the same process, for the speed ratio;
* ``--big``: 1024 x 1024 x 256 volume, 41 views, 2048 x 2048 detector, forward and back
  each in a fresh subprocess whose maximum RSS is the pass's peak memory (minutes).

Each is timed after compilation (best of ``--repeat``), with compilation timed
separately; peak memory is the process's maximum RSS (resource) and the peak of
Python-level allocations (tracemalloc). When ``astra-toolbox`` is importable, the 2D case
also runs through ASTRA's CPU ``line_fanflat`` projector in this process, interleaved with
ours over ``--rounds`` rounds (the machine is shared, so both see the same load), and the
ratios of the best and of the median times are printed with the load average.
Run: ``python bench/recon_bench.py`` (``--skip-tooth``, ``--skip-2d``, ``--skip-3d``,
``--skip-cone`` leave cases out).
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

from pathlib import Path

TOOTH = Path(__file__).resolve().parents[1] / "tests" / "data" / "sinogram"
SIRT_ITERATIONS = 10   # per timed SIRT / CGLS run (ASTRA: the same)

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
    print(f"  forward : {vox_views / fp / 1e6:8.1f} M voxel-view/s  ({fp:.3f} s wall, {fp_cpu:.3f} s cpu "
          f"= {vox_views / fp_cpu / 1e6:.1f} M/s per cpu-second; compile+first run {first_fp:.2f} s)")
    print(f"  back    : {vox_views / bp / 1e6:8.1f} M voxel-view/s  ({bp:.3f} s wall, {bp_cpu:.3f} s cpu "
          f"= {vox_views / bp_cpu / 1e6:.1f} M/s per cpu-second; compile+first run {first_bp:.2f} s)")
    print("  load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return {"fp": fp, "bp": bp, "fp_cpu": fp_cpu, "bp_cpu": bp_cpu, "vv": vox_views, "proj": p}


def _xla_path(geom, new, repeat):
    """The same case with ``kernel="xla"`` (every view in JAX instead of the compiled
    loops of recon.native), in this process, and the speed ratio."""
    A = recon.Projector(geom, kernel="xla")
    x = jnp.ones(geom.vol_shape, jnp.float32)
    jax.block_until_ready(A.adjoint(jax.block_until_ready(A.forward(x))))  # compile
    fp, fp_cpu = _best(lambda: A.forward(x), repeat)
    bp, bp_cpu = _best(lambda: A.adjoint(new["proj"]), repeat)
    vv = new["vv"]
    print(f"  kernel='xla' (all in JAX): forward {vv / fp / 1e6:.1f} M/s ({fp:.3f} s wall, "
          f"{fp_cpu:.3f} s cpu), back {vv / bp / 1e6:.1f} M/s ({bp:.3f} s wall, {bp_cpu:.3f} s cpu)")
    print(f"  native / xla speed: forward {fp / new['fp']:.2f}x wall, "
          f"{fp_cpu / new['fp_cpu']:.2f}x cpu; back {bp / new['bp']:.2f}x wall, {bp_cpu / new['bp_cpu']:.2f}x cpu")


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


def _tooth(repeat, rounds):
    """Ours vs ASTRA CPU on the measured sinogram: every algorithm, interleaved."""
    sino = np.load(TOOTH / "tooth_sinogram.npy")
    theta = np.load(TOOTH / "tooth_theta_rad.npy")
    n = sino.shape[1]
    pg = {"type": "parallel", "DetectorWidth": 1.0, "DetectorCount": n, "ProjectionAngles": theta}
    vg = {"GridRowCount": n, "GridColCount": n}
    A = recon.Projector(recon.from_astra(pg, vg))
    p = jnp.asarray(sino)
    x = jnp.ones(A.vol_shape, jnp.float32)
    k = SIRT_ITERATIONS
    ours = {"forward": lambda: A.forward(x), "back": lambda: A.adjoint(p),
            "FBP": lambda: recon.fbp(p, A).data,
            f"SIRT x{k}": lambda: recon.sirt(p, A, iterations=k, positivity=False).data,
            "SART (1 sweep)": lambda: recon.sart(p, A, iterations=1, relaxation=1.0, positivity=False).data,
            f"CGLS x{k}": lambda: recon.cgls(p, A, iterations=k).data}
    first = {}
    for name, fn in ours.items():
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        first[name] = time.perf_counter() - t0
    try:
        import astra
    except ImportError as exc:
        print(f"tooth: ASTRA not installed ({exc}); `pip install .[astra]` for the reference")
        astra = None
    runs = {name: [] for name in ours}
    ref = {name: [] for name in ours}
    if astra is not None:
        apg, avg = astra.create_proj_geom("parallel", 1.0, n, theta), astra.create_vol_geom(n, n)
        pid = astra.create_projector("linear", apg, avg)
        xs = np.ones((n, n), np.float32)

        def alg(kind, iterations):
            def run():
                sid = astra.data2d.create("-sino", apg, sino)
                rid = astra.data2d.create("-vol", avg, 0.0)
                cfg = astra.astra_dict(kind)
                cfg.update(ProjectionDataId=sid, ReconstructionDataId=rid, ProjectorId=pid)
                if kind == "FBP":
                    cfg["FilterType"] = "hann"
                aid = astra.algorithm.create(cfg)
                astra.algorithm.run(aid, iterations)
                out = astra.data2d.get(rid)
                astra.algorithm.delete(aid)
                astra.data2d.delete([sid, rid])
                return out
            return run

        def fp():
            sid, out = astra.create_sino(xs, pid)
            astra.data2d.delete(sid)
            return out

        def bp():
            bid, out = astra.create_backprojection(sino, pid)
            astra.data2d.delete(bid)
            return out

        astra_fns = {"forward": fp, "back": bp, "FBP": alg("FBP", 1), f"SIRT x{k}": alg("SIRT", k),
                     "SART (1 sweep)": alg("SART", len(theta)), f"CGLS x{k}": alg("CGLS", k)}
    for _ in range(rounds):
        for name, fn in ours.items():
            runs[name].append(_best(fn, repeat))
            if astra is not None:
                ref[name].append(_best(astra_fns[name], repeat))
    print(f"tooth (measured, parallel beam): {len(theta)} views x {n} px -> {n} x {n}; "
          f"{rounds} interleaved rounds of best-of-{repeat}; load average "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("  | operation | ours wall (cpu) s | ASTRA CPU wall (cpu) s | ASTRA / ours, wall | ASTRA / ours, cpu "
          "| ours compile + first run (s) |")
    print("  |---|---|---|---|---|---|")
    nan = (float("nan"), float("nan"))
    for name in ours:
        o = np.array(runs[name]).min(0)
        a = np.array(ref[name]).min(0) if ref[name] else np.array(nan)
        print(f"  | {name} | {o[0]:.3f} ({o[1]:.3f}) | {a[0]:.3f} ({a[1]:.3f}) | {a[0] / o[0]:.2f}x "
              f"| {a[1] / o[1]:.2f}x | {first[name]:.1f} |")


def _figure(path):
    """The tooth reconstructed by our FBP and SIRT beside ASTRA's committed references."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = json.loads((TOOTH / "tooth_reference.json").read_text())
    sino = np.load(TOOTH / "tooth_sinogram.npy")
    theta = np.load(TOOTH / "tooth_theta_rad.npy")
    n = sino.shape[1]
    A = recon.Projector(recon.from_astra({"type": "parallel", "DetectorWidth": 1.0, "DetectorCount": n,
                                          "ProjectionAngles": theta}, {"GridRowCount": n, "GridColCount": n}))
    region = tuple(slice(*meta["reference_region"][k]) for k in ("rows", "cols"))
    ours = {"fbp": np.asarray(recon.fbp(sino, A).data)[region],
            "sirt": np.asarray(recon.sirt(sino, A, iterations=meta["sirt_iterations"],
                                          positivity=False).data)[region]}
    fig, axes = plt.subplots(2, 2, figsize=(8, 8.4))
    for row, name in enumerate(("fbp", "sirt")):
        ref = np.load(TOOTH / f"tooth_astra_{name}.npy")
        rel = np.linalg.norm(ours[name] - ref) / np.linalg.norm(ref)
        lo, hi = np.percentile(ref, [1, 99.5])
        for col, (label, img) in enumerate((("recon", ours[name]), ("ASTRA 2.5 CPU", ref))):
            ax = axes[row, col]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(f"{label} {name.upper()}" + (f" (rel. L2 to ASTRA {rel:.2%})" if col == 0 else ""),
                         fontsize=9)
            ax.axis("off")
    fig.suptitle("TomoPy tooth.h5, row 0: 181 views / 180 deg, 593 px (tests/data/sinogram)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")
    return 0


BIG = dict(n_views=41, arc_deg=40, source_distance_um=R_UM, det_shape=(2048, 2048),
           vol_shape=(256, 1024, 1024), voxel_um=0.8, z_range=(10, 10 + 256 * 0.8))


def _big_part(part):
    """One pass of the large case in this (fresh) process; prints its time and peak RSS."""
    import json

    g = recon.tomosynthesis(det_pixel_um=recon.geometry.DEFAULT_DET_PIXEL_UM, **BIG)
    A = recon.Projector(g)
    shape = A.vol_shape if part == "forward" else A.proj_shape
    data = jax.random.uniform(jax.random.key(0), shape, jnp.float32)  # made in place: no host copy
    run = A.forward if part == "forward" else A.adjoint
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(run(data))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
    print(json.dumps({"part": part, "wall_s": wall, "cpu_s": cpu, "peak_rss_gib": rss,
                      "voxel_views": float(np.prod(A.vol_shape)) * A.proj_shape[0]}), flush=True)
    return 0


def _big():
    """The 1024^2 x 256 volume, 41 views, 2048^2 detector: forward and back, each in a fresh
    subprocess so its maximum RSS is that pass's peak memory (input, output and all XLA
    buffers). Times include compilation (a few seconds; see the 3D case)."""
    import json
    import subprocess
    import sys

    print(f"large case: volume {BIG['vol_shape']}, {BIG['n_views']} views, detector {BIG['det_shape']}; "
          "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
    for part in ("forward", "back"):
        out = subprocess.run([sys.executable, __file__, "--big-part", part], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"  {part}: failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {part:7s}: {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s cpu "
              f"({r['voxel_views'] / r['wall_s'] / 1e6:.1f} M voxel-view/s wall, "
              f"{r['voxel_views'] / r['cpu_s'] / 1e6:.1f} M/s per cpu-second), "
              f"peak RSS {r['peak_rss_gib']:.2f} GiB", flush=True)
    print("  load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved ours/ASTRA rounds (2D)")
    parser.add_argument("--skip-3d", action="store_true")
    parser.add_argument("--skip-tooth", action="store_true")
    parser.add_argument("--skip-2d", action="store_true")
    parser.add_argument("--skip-cone", action="store_true")
    parser.add_argument("--figure", default=None, metavar="PNG",
                        help="only write the tooth figure (ours beside the committed ASTRA references)")
    parser.add_argument("--x64", action="store_true",
                        help="enable jax_enable_x64 (the data stay float32: checks they run as fast)")
    parser.add_argument("--big", action="store_true",
                        help="only the 1024^2 x 256, 41-view, 2048^2 case: time and peak memory (minutes)")
    parser.add_argument("--big-part", choices=("forward", "back"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.big_part:
        return _big_part(args.big_part)
    if args.big:
        return _big()
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    if args.figure:
        return _figure(args.figure)
    tracemalloc.start()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared with other jobs: wall times vary, cpu times are steadier); jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")

    if not args.skip_tooth:
        _tooth(max(1, args.repeat // 2), max(1, args.rounds // 2))
    if not args.skip_2d:
        g2 = recon.tomosynthesis_2d(n_views=41, arc_deg=40, source_distance_um=R_UM, det_cols=1024,
                                    det_pixel_um=recon.geometry.DEFAULT_DET_PIXEL_UM,
                                    vol_shape=(512, 512), voxel_um=0.5, z_range=(10, 10 + 256))
        print("load average at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        ours = _case("2D", g2, args.repeat)
        _xla_path(g2, ours, args.repeat)
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
        _xla_path(g3, three, max(1, args.repeat // 3))
    if not args.skip_cone:
        cone = recon.circular("cone", angles_rad=np.linspace(0, 2 * np.pi, 90, endpoint=False),
                              det_shape=(128, 160), det_pixel_um=1.0, vol_shape=(128, 128, 128),
                              voxel_um=1.0, source_origin_um=2000, origin_det_um=500)
        ours = _case("cone (general 3D path)", cone, max(1, args.repeat // 2))
        _xla_path(cone, ours, max(1, args.repeat // 2))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    _, peak_py = tracemalloc.get_traced_memory()
    print(f"peak memory: {peak_rss:.0f} MiB max RSS (process), {peak_py / 2**20:.0f} MiB peak "
          f"Python allocations (tracemalloc; XLA buffers are outside it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
