"""Figures of the geometric-vs-optical study."""

from __future__ import annotations

import math

import numpy as np

from twin.report import new_figure, save_figure
from twin.studies.geometric_vs_optical.design import COMPONENTS, RESOLVED_MTF, SETUPS, SWEPT, to_spot

LABEL = {"optical": "optical-lens", "geometric": "geometric"}
_STYLE = {"optical": dict(color="tab:blue", marker="o"), "geometric": dict(color="tab:red", marker="s")}
_COMP_COLOUR = {"focal_spot": "tab:orange", "scintillator": "tab:green", "optics": "tab:purple",
                "pixel": "tab:gray", "system": "black"}


def summary_figure(rep, out_dir, spots, rows):
    fig = new_figure(width=11.0, height=8.0)
    ax = fig.subplots(2, 2)
    a = ax[0, 0]
    for setup in SETUPS:
        a.plot(spots, [nan_if_none(r[setup]["mtf50_lp_mm"]) for r in rows], label=f"{LABEL[setup]} MTF50", **_STYLE[setup])
        a.plot(spots, [nan_if_none(r[setup]["mtf10_lp_mm"]) for r in rows], label=f"{LABEL[setup]} MTF10",
               linestyle="--", **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="lp/mm at the object plane",
          title="(a) system MTF50 / MTF10")
    a.legend(fontsize=8)
    a = ax[0, 1]
    for c in (*COMPONENTS, "system"):
        for setup, ls in (("optical", "-"), ("geometric", ":")):
            vals = [r[setup]["sigma_um"][c] for r in rows]
            if max(vals) > 0:
                a.plot(spots, vals, linestyle=ls, color=_COMP_COLOUR[c], marker=_STYLE[setup]["marker"],
                       markersize=3, label=f"{LABEL[setup]}: {c.replace('_', ' ')}")
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="equivalent sigma (um)",
          title="(b) blur budget (solid optical, dotted geometric)")
    a.legend(fontsize=6, ncol=2)
    a = ax[1, 0]
    for setup in SETUPS:
        a.plot(spots, [r[setup]["exposure_for_snr_s"] for r in rows], label=f"{LABEL[setup]}: exposure for SNR",
               **_STYLE[setup])
        a.plot(spots, [r[setup]["absorbed_per_pixel_per_s"] for r in rows], linestyle="--",
               label=f"{LABEL[setup]}: absorbed X-rays / pixel / s", **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="s  |  1/s",
          title="(c) photon budget per object-plane pixel")
    a.legend(fontsize=7)
    a = ax[1, 1]
    for setup in SETUPS:
        a.plot(spots, [r[setup]["length_mm"] for r in rows], label=f"{LABEL[setup]}: source to sensor",
               **_STYLE[setup])
    a.set(xscale="log", yscale="log", xlabel="focal-spot size (um)", ylabel="length (mm)",
          title="(d) length for the same object-plane pixel")
    a.legend(fontsize=8)
    save_figure(fig, out_dir / "figures" / "summary.png")
    rep.add_figure("figures/summary.png", "Both set-ups against focal-spot size: (a) system MTF50 (solid) and "
                   "MTF10 (dashed) at the object plane; (b) blur budget by component; (c) absorbed X-rays per "
                   "object-plane pixel per second and the exposure for the SNR target; (d) source-to-sensor length.")


def nan_if_none(x):
    return np.nan if x is None else x


def mtf_figure(rep, out_dir, rows):
    fig = new_figure(width=7.0, height=4.5)
    a = fig.subplots()
    picks = sorted({0, len(rows) // 2, len(rows) - 1})
    styles = ["-", "--", ":"]
    for ls, i in zip(styles, picks):
        r = rows[i]
        for setup in SETUPS:
            a.plot(r["freqs_lp_mm"], r[setup]["mtf"], linestyle=ls, color=_STYLE[setup]["color"],
                   label=f"{LABEL[setup]}, spot {r['focal_spot_um']:g} um")
    a.axhline(RESOLVED_MTF, color="gray", linewidth=0.8)
    a.set(xlabel="spatial frequency at the object plane (lp/mm)", ylabel="system MTF", ylim=(0, 1.02))
    a.legend(fontsize=8)
    save_figure(fig, out_dir / "figures" / "mtf.png")
    rep.add_figure("figures/mtf.png", "System MTF of both set-ups at the smallest, middle and largest focal spot "
                   "(grey line: the 10 % level of the resolved criterion).")


def chart_figure(rep, out_dir, rows, scenario):
    from physics.imageio import read_tiff
    from twin.run import point_dir

    sims = [r for r in rows if r["simulated"]]
    if not sims:
        return
    picks = [sims[0]] if len(sims) == 1 else [sims[0], sims[-1]]
    fig = new_figure(width=10.0, height=3.2 * len(picks))
    axes = np.atleast_2d(fig.subplots(len(picks), 2))
    for row_axes, r in zip(axes, picks):
        folder = point_dir(out_dir, {SWEPT: _point_value(scenario, r["focal_spot_um"])})
        for a, setup in zip(row_axes, SETUPS):
            path = folder / f"chart_{setup}.tif"
            if not path.is_file():
                a.set_axis_off()
                continue
            img = read_tiff(path)
            n_rows, n_cols = img.data.shape
            ext = np.array([-n_cols, n_cols, n_rows, -n_rows]) / 2 * img.pixel_size_um
            a.imshow(img.data, cmap="gray", extent=ext)
            a.set(title=f"{LABEL[setup]}, spot {r['focal_spot_um']:g} um, smallest resolved "
                        f"{_fmt(r[setup]['smallest_group_sim_um'])} um", xlabel="x (um)", ylabel="y (um)")
            a.title.set_fontsize(8)
    save_figure(fig, out_dir / "figures" / "charts.png")
    rep.add_figure("figures/charts.png", "Simulated chart projections (flat-corrected transmission, object-plane "
                   "axes) at the exposure for the SNR target; groups 0.5-3 um line width.")


def _point_value(scenario, spot_um):
    """The sweep value (as written in the file) of the point with this spot."""
    for p in scenario.points():
        if SWEPT in p and math.isclose(to_spot(p[SWEPT]), spot_um, rel_tol=1e-9):
            return p[SWEPT]
    return None


def _fmt(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"
