"""Figures of the published study's report (seed 0's images, every seed's dips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import ORIENTATION_LABEL, ORIENTATIONS


def figure_edge(res, path):
    from twin.report import new_figure, save_figure

    c = res["edge_curves"]
    fig = new_figure(width=10, height=3.2)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    x = np.asarray(c["position_px"])
    ax1.plot(x, c["esf"])
    ax1.set(xlabel="distance from edge (px)", ylabel="ESF (1/um)", title="ESF")
    lsf = np.asarray(c["lsf"])
    s = res["edge"]["sigma_px"]
    ax2.plot(x, lsf, label="LSF")
    ax2.plot(x, np.exp(-0.5 * (x / s) ** 2) / (s * np.sqrt(2 * np.pi)), "--", label=f"Gaussian, sigma={s:.2f} px")
    ax2.set(xlabel="distance from edge (px)", title="LSF")
    ax2.legend(fontsize=8)
    ax3.plot(c["frequency_cyc_per_px"], c["mtf"])
    ax3.axhline(0.5, color="0.7", lw=0.8)
    ax3.axhline(0.1, color="0.7", lw=0.8)
    ax3.set(xlabel="cycles/pixel", ylabel="MTF", title="MTF", xlim=(0, 1), ylim=(0, 1.05))
    save_figure(fig, path)


def figure_noise(work, res, path):
    from physics.imageio import read_tiff
    from twin.report import new_figure, save_figure

    img = read_tiff(work / "chart_slice.tif").data
    x0, y0, x1, y1 = res["noise"]["roi"]
    values = img[y0:y1, x0:x1].ravel()
    mu, sigma = res["noise"]["mean"], res["noise"]["sigma"]
    fig = new_figure(width=5, height=3.2)
    ax = fig.subplots()
    counts, edges, _ = ax.hist(values, bins=60, color="0.6")
    centres = 0.5 * (edges[:-1] + edges[1:])
    gauss = np.exp(-0.5 * ((centres - mu) / sigma) ** 2)
    ax.plot(centres, gauss * counts.max() / gauss.max(), "r-", label=f"fit: sigma = {sigma:.3g}")
    ax.set(xlabel="slice value (1/um)", ylabel="pixels", title="background histogram")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def figure_chart(work, res, path):
    from physics.imageio import read_tiff
    from twin.report import new_figure, save_figure

    before = read_tiff(work / "chart_slice.tif").data
    after = read_tiff(work / "chart_slice_enhanced.tif").data
    fig = new_figure(width=10, height=4)
    ax1, ax2 = fig.subplots(1, 2)
    for ax, img, title in ((ax1, before, "tomosynthesis slice"), (ax2, after, "after the network")):
        lo, hi = np.percentile(img, [0.5, 99.5])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title)
        ax.axis("off")
    save_figure(fig, path)


def figure_dips(res, path):
    from twin.report import new_figure, save_figure

    widths = sorted(res["chart"]["before"], key=float)
    fig = new_figure(width=9, height=3.4)
    for ax, o in zip(fig.subplots(1, 2, sharey=True), ORIENTATIONS):
        x = np.arange(len(widths))
        for shift, stage in ((-0.2, "before"), (0.2, "after")):
            dips = [[seed["groups"][stage][w][o]["dip"] for seed in res["per_seed"]] for w in widths]
            ax.bar(x + shift, [np.mean(d) for d in dips], 0.4, alpha=0.6,
                   label="slice" if stage == "before" else "after network")
            for xi, d in zip(x, dips):
                ax.plot(np.full(len(d), xi + shift), d, "k.", ms=4)
        ax.axhline(0.265, color="r", lw=0.8)
        ax.set_xticks(x, [f"{float(w):g} um" for w in widths])
        ax.set(title=ORIENTATION_LABEL[o], ylabel="dip (fraction of line signal)")
        ax.legend(fontsize=8)
    save_figure(fig, path)


def copy_images(work: Path, images: Path):
    import shutil

    images.mkdir(parents=True, exist_ok=True)
    for name in ("chart_slice.tif", "chart_slice_enhanced.tif", "edge_slice.tif", "slices.tif",
                 "edge.json", "noise.json", "chart.json"):
        src = work / name
        if src.exists():
            tmp = images / f".{name}.part"
            shutil.copyfile(src, tmp)
            tmp.replace(images / name)
