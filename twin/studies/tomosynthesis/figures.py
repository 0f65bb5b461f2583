"""Figures of the tomosynthesis study."""

from __future__ import annotations

import numpy as np

from twin.report import log_ticks, new_figure, save_figure
from twin.studies.tomosynthesis.theory import continuous_fwhm_um


def figure_fwhm(res, widths, path):
    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2)
    views = sorted({r["n_views"] for r in res})
    arcs = sorted({r["arc_deg"] for r in res})
    styles = ("o", "s", "^", "D", "v")
    for j, n in enumerate(widths):
        w = res[0]["groups"][n]["line_width_um"]
        for i, v in enumerate(views):
            pts = [r for r in res if r["n_views"] == v]
            ax1.plot([r["arc_deg"] for r in pts], [r["groups"][n]["fwhm_um"] or np.nan for r in pts],
                     styles[i % 5], color=f"C{j}", alpha=0.8, label=f"{n}, {v} views")
        a = np.linspace(max(min(arcs), 1.0), max(arcs), 100)
        ax1.plot(a, [continuous_fwhm_um(w, x) for x in a], "-", color=f"C{j}", lw=1)
        for i, arc in enumerate(arcs):
            pts = [r for r in res if r["arc_deg"] == arc]
            ax2.plot([r["n_views"] for r in pts], [r["groups"][n]["fwhm_um"] or np.nan for r in pts],
                     styles[i % 5] + "-", color=f"C{j}", alpha=0.8, label=f"{n}, {arc:g} deg")
            ax2.plot([r["n_views"] for r in pts], [r["groups"][n]["predicted_fwhm_um"] or np.nan for r in pts],
                     "--", color=f"C{j}", lw=0.8)
    ax1.set(xlabel="arc (deg)", ylabel="SSP FWHM (um)", yscale="log", title="depth resolution vs arc")
    ax2.set(xlabel="views", ylabel="SSP FWHM (um)", yscale="log", xscale="log", title="depth resolution vs views")
    for axis in (ax1.yaxis, ax2.xaxis, ax2.yaxis):
        log_ticks(axis)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


def figure_ssp(res, name, path):
    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    most = max(r["n_views"] for r in res)
    widest = max(r["arc_deg"] for r in res)
    for ax, pts, label in ((ax1, [r for r in res if r["n_views"] == most], lambda r: f"{r['arc_deg']:g} deg"),
                           (ax2, [r for r in res if r["arc_deg"] == widest], lambda r: f"{r['n_views']} views")):
        for i, r in enumerate(pts):
            dz = np.asarray(r["heights_um"]) - r["chart_height_um"]
            g = r["groups"][name]
            ax.plot(dz, g["ssp"], "-", color=f"C{i}", label=label(r))
            if g["predicted_ssp"] is not None:
                ax.plot(dz, g["predicted_ssp"], "--", color=f"C{i}", lw=0.8)
        ax.axhline(0.5, color="0.6", lw=0.6)
        ax.axhline(0.0, color="0.6", lw=0.6)
        title = f"{name}: " + ("most views" if ax is ax1 else f"{widest:g} deg")
        ax.set(xlabel="height - chart height (um)", title=title)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    ax1.set_ylabel("normalised modulation (SSP)")
    save_figure(fig, path)


def figure_clutter(res, widths, path):
    fig = new_figure(width=13, height=4)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for i, v in enumerate(sorted({r["n_views"] for r in res})):
        pts = [r for r in res if r["n_views"] == v]
        for j, n in enumerate(widths):
            ax1.plot([r["arc_deg"] for r in pts], [r["groups"][n]["signal_to_clutter"] for r in pts],
                     ("o-", "s--")[j % 2], color=f"C{i}", label=f"{n}, {v} views")
        ax2.plot([r["arc_deg"] for r in pts], [r["clutter"]["suppression"] for r in pts], "o-", color=f"C{i}",
                 label=f"{v} views")
    for i, arc in enumerate(sorted({r["arc_deg"] for r in res})):
        pts = [r for r in res if r["arc_deg"] == arc]
        ghost = [r["groups"][widths[-1]]["ghost_level"] for r in pts]
        ax3.plot([r["n_views"] for r in pts], [np.nan if g is None else g for g in ghost], "o-", color=f"C{i}",
                 label=f"{arc:g} deg")
    ax1.set(xlabel="arc (deg)", ylabel="signal-to-clutter in the chart slice", yscale="log")
    ax2.set(xlabel="arc (deg)", ylabel="clutter suppression vs projection", yscale="log")
    ax3.set(xlabel="views", ylabel=f"ghost level, {widths[-1]}", xscale="log", ylim=(0, 1.05))
    for axis in (ax1.yaxis, ax2.yaxis, ax3.xaxis):
        log_ticks(axis)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


def figure_sections(res, point_of, out_dir, path):
    from physics.imageio import read_tiff
    from twin.report import new_figure, save_figure
    from twin.run import point_dir

    most = max(r["n_views"] for r in res)
    fewest = min(r["n_views"] for r in res)
    arcs = sorted({r["arc_deg"] for r in res})
    chosen = [(most, a) for a in arcs] + [(fewest, arcs[-1])]
    chosen = [c for c in dict.fromkeys(chosen) if c in point_of]
    fig = new_figure(width=2.6 * len(chosen), height=3.4)
    axes = np.atleast_1d(fig.subplots(1, len(chosen)))
    for ax, (v, a) in zip(axes, chosen):
        img = read_tiff(point_dir(out_dir, point_of[(v, a)]) / "xz_section.tif")
        heights = img.metadata.get("slice_heights_um")
        data = img.data
        lo, hi = np.percentile(data, [1, 99])
        extent = (0, data.shape[1] * img.pixel_size_um, heights[0], heights[-1])
        ax.imshow(data, cmap="gray", vmin=lo, vmax=hi, origin="lower", aspect="auto", extent=extent)
        ax.set(title=f"{v} views, {a:g} deg", xlabel="x (um)")
    axes[0].set_ylabel("height (um)")
    save_figure(fig, path)
