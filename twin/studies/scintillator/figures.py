"""Figures of the scintillator study."""

from __future__ import annotations

import math

import numpy as np

from twin.report import log_ticks, new_figure, save_figure

_COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7")


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def figure_resolution(res, materials, path):
    from physics.psf import koch_resolution_um
    n = len(materials)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = new_figure(width=5.2 * cols, height=3.8 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    nas = sorted({r["na"] for r in res})
    t_all = sorted({r["thickness_um"] for r in res})
    t_line = np.geomspace(min(t_all), max(t_all), 100)
    for ax, mat in zip(axes, materials):
        for i, na in enumerate(nas):
            pts = sorted((r for r in res if r["material"] == mat and r["na"] == na), key=lambda r: r["thickness_um"])
            c = _COLOURS[i % len(_COLOURS)]
            ax.plot([r["thickness_um"] for r in pts], [r["resolution_um"] for r in pts], _MARKERS[i % 8],
                    color=c, label=f"NA {na:g} simulated")
            ax.plot(t_line, np.asarray(koch_resolution_um(na=na, thickness_um=t_line)), "-", color=c, lw=1,
                    label=f"NA {na:g} Koch")
        ax.set(xscale="log", yscale="log", title=mat, xlabel="screen thickness (um)", ylabel="R (um)")
        log_ticks(ax.xaxis)
        log_ticks(ax.yaxis)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def figure_absorption(res, materials, path):
    fig = new_figure(width=6.4, height=4.2)
    ax = fig.subplots()
    ax2 = ax.twinx()
    nas = sorted({r["na"] for r in res})
    for i, mat in enumerate(materials):
        c = _COLOURS[i % len(_COLOURS)]
        pts = sorted((r for r in res if r["material"] == mat and r["na"] == nas[0]), key=lambda r: r["thickness_um"])
        t = [r["thickness_um"] for r in pts]
        ax.plot(t, [r["eta_quanta"] for r in pts], "-o", color=c, ms=3, label=f"{mat} quanta")
        ax.plot(t, [r["eta_energy"] for r in pts], "--", color=c, label=f"{mat} energy")
        for na in nas:
            q = sorted((r for r in res if r["material"] == mat and r["na"] == na), key=lambda r: r["thickness_um"])
            ax2.plot([r["thickness_um"] for r in q], [r["dqe0"] for r in q], ":", color=c, lw=0.8)
    ax.set(xscale="log", xlabel="screen thickness (um)", ylabel="absorbed fraction", ylim=(0, 1))
    log_ticks(ax.xaxis)
    ax2.set(yscale="log", ylabel="DQE(0) (dotted)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, path)


def figure_tradeoff(res, materials, path):
    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2, sharex=True)
    nas = sorted({r["na"] for r in res})
    t_max = max(r["thickness_um"] for r in res)
    for i, mat in enumerate(materials):
        for j, na in enumerate(nas):
            pts = [r for r in res if r["material"] == mat and r["na"] == na]
            size = [10 + 50 * math.log10(1 + 9 * r["thickness_um"] / t_max) for r in pts]
            kw = dict(color=_COLOURS[i % 8], marker=_MARKERS[j % 8], s=size, alpha=0.8,
                      label=f"{mat}, NA {na:g}")
            ax1.scatter([r["resolution_um"] for r in pts], [r["eta_quanta"] for r in pts], **kw)
            ax2.scatter([r["resolution_um"] for r in pts], [r["dqe0"] for r in pts], **kw)
    ax1.set(xscale="log", xlabel="R (um)", ylabel="absorbed fraction eta_q", title="X-ray absorption")
    ax2.set(xscale="log", yscale="log", xlabel="R (um)", ylabel="DQE(0)", title="with the optical quantum sink")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        log_ticks(ax.xaxis)
    log_ticks(ax2.yaxis)
    ax2.legend(fontsize=6, ncol=2, loc="lower right")
    save_figure(fig, path)
