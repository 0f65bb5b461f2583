"""Scintillator design study: resolution against detection efficiency.

For each (material, thickness, NA) point the composed system of the scenario
(:func:`twin.system.build_system`) gives, through :func:`physics.chain.view_response`
for the central view and an object in contact with the screen (no focal-spot
penumbra), the published spectrum as it reaches the screen (tube window, air
path, inverse square), the depth-integrated scintillator-optics PSF, the
absorbed quanta and the photoelectrons per absorbed quantum. From them:

* ``R``: half the period at which the PSF's MTF falls to 10 % - the measure
  Koch's ``R`` is read as (:func:`physics.psf.mtf_resolution_um`); MTF50; the
  FWHM of the line spread function (field-cell aperture divided out);
* ``R_Koch = sqrt((0.18/NA)^2 + (0.075 z NA)^2)`` (:func:`physics.psf.koch_resolution_um`);
* absorbed fractions, quanta-weighted ``eta_q = sum N P(E) / sum N`` and
  energy-weighted ``eta_E = sum N E (mu_en/mu) P(E) / sum N E``;
* ``g`` photoelectrons per absorbed quantum and the zero-frequency DQE of the
  two-stage cascade (Poisson absorption, Poisson optical gain; no Swank factor,
  no read noise): ``DQE(0) = eta_q g / (1 + g)``, so ``g < 1`` is a secondary
  quantum sink;
* ``NEQ per resolution element = fluence x DQE(0) x R^2``: noise-equivalent quanta
  in an ``R x R`` square for the scenario's exposure, the SNR^2 a detail of the
  detector's own resolution gets.

Numerics (why): the field grid is refined per point until its Nyquist frequency
exceeds the optical cut-off ``2 NA / lambda`` (``supersampling_for``), because the
MTF is read from the sampled PSF; the number of depth layers keeps their spacing
below half the depth of field ``n lambda / NA^2`` (16 to 64 layers); layer counts and
PSF supports are rounded up to short ladders so points share compiled kernels.
``--quick`` keeps the system's 16 layers.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

#: MTF level of Koch's R (see physics.psf.koch_resolution_um).
KOCH_LEVEL = 0.1
#: Depth layers: spacing below half the depth of field, rounded up to one of these
#: counts (16-64: cost), so that points share compiled PSF kernels.
LAYER_COUNTS = (16, 24, 32, 48, 64)
#: PSF supports (odd, ratio ~sqrt 2) the chain's own support is rounded up to, for the
#: same reason: the support is a static shape of the jit-compiled PSF.
PSF_SIZES = tuple(2 * int(16 * 2 ** (k / 2)) + 1 for k in range(12))
#: Target resolutions (um) for the "best screen for a target" table (assumed: the
#: paper's 1-3 um range and the sub-micron goal).
TARGETS_UM = (0.5, 1.0, 2.0, 3.0)


# --------------------------------------------------------------------------- per point
def depth_layers(thickness_um: float, na: float, refractive_index: float, wavelength_um: float) -> int:
    """Layers whose spacing is at most half the depth of field ``n lambda / NA^2``, from
    :data:`LAYER_COUNTS` (the largest when even it is coarser)."""
    dof = refractive_index * wavelength_um / na**2
    need = math.ceil(thickness_um / (0.5 * dof))
    return next((n for n in LAYER_COUNTS if n >= need), LAYER_COUNTS[-1])


def psf_support(system) -> int:
    """The chain's PSF support rounded up to :data:`PSF_SIZES` (a larger window changes nothing
    but the compile cache)."""
    from physics import chain  # the chain's own coverage rule (defocus disc + Airy rings)

    need = chain.psf_support(system)
    return next((n for n in PSF_SIZES if n >= need), need)


def lsf_fwhm_um(psf, cell_um: float, *, upsample: int = 16) -> float:
    """FWHM of the line spread function of a pixel-integrated, band-limited PSF.

    The LSF spectrum is divided by the cell aperture ``sinc(f a)`` and zero-padded
    (exact band-limited interpolation), so the width is the optics' own.
    """
    lsf = np.asarray(psf, dtype=float).sum(axis=0)
    n = lsf.size
    spec = np.fft.rfft(np.fft.ifftshift(lsf))
    spec = spec / np.sinc(np.fft.rfftfreq(n, d=cell_um) * cell_um)
    fine = np.fft.fftshift(np.fft.irfft(spec, n=n * upsample))
    x = (np.arange(fine.size) - fine.size // 2) * cell_um / upsample
    i0 = int(np.argmax(fine))
    half = 0.5 * fine[i0]

    def crossing(step):
        i = i0
        while 0 <= i + step < fine.size and fine[i + step] >= half:
            i += step
        j = i + step
        if not 0 <= j < fine.size:
            raise ValueError("lsf_fwhm_um: the LSF does not fall to half maximum inside the PSF window")
        return x[i] + (fine[i] - half) / (fine[i] - fine[j]) * (x[j] - x[i])

    return float(crossing(1) - crossing(-1))


def compute_point(raw: dict, point: dict, *, quick: bool, work_dir: str) -> dict:
    import jax.numpy as jnp

    from physics.chain import view_response
    from physics.optics import supersampling_for
    from physics.psf import koch_resolution_um, mtf_resolution_um
    from twin.scenario import parse_scenario
    from twin.system import build_system

    scenario = parse_scenario(raw).with_values(point)
    system = build_system(scenario)
    scint = system.detector.scintillator
    na = float(system.detector.microscope.numerical_aperture)
    thickness = float(scint.thickness_um)
    n_index, wavelength = float(scint.refractive_index), float(scint.emission_um)
    oversample = max(system.oversample, supersampling_for(system.pixel_um, wavelength, max_na=na))
    layers = system.detector.n_depth_layers if quick else depth_layers(thickness, na, n_index, wavelength)
    system = dataclasses.replace(system, oversample=oversample,
                                 detector=dataclasses.replace(system.detector, n_depth_layers=layers))
    source = (0.0, 0.0, scenario["geometry"]["source_distance"])
    response = view_response(system, source, object_plane_um=0.0, psf_size=psf_support(system))
    cell = system.cell_um
    psf = np.asarray(response.psf, dtype=float)

    energies = np.asarray(response.energies_kev, dtype=float)
    p_interact = np.asarray(scint.interaction_probability(energies), dtype=float)
    absorbed = np.asarray(response.quanta_weights, dtype=float)       # quanta per cell per bin
    incident = absorbed / p_interact
    eta_q = absorbed.sum() / incident.sum()
    energy_in = incident * energies
    eta_e = float(np.sum(energy_in * np.asarray(scint.absorbed_energy_fraction(energies)))) / energy_in.sum()
    gain = float(response.electrons_per_quantum)
    fluence = incident.sum() / cell**2                                 # photons / um^2 per exposure
    dqe0 = eta_q * gain / (1.0 + gain)

    depths = np.asarray(scint.layer_depths_um(layers), dtype=float)
    light = np.asarray(scint.layer_light(energies, jnp.asarray(incident), layers), dtype=float)
    mean_depth = float(np.sum(light * depths) / light.sum())
    rms_depth = float(np.sqrt(np.sum(light * (depths - mean_depth) ** 2) / light.sum()))

    resolution = mtf_resolution_um(psf, cell, level=KOCH_LEVEL)
    r50 = mtf_resolution_um(psf, cell, level=0.5)
    return {
        "material": scint.material, "thickness_um": thickness, "na": na,
        "refractive_index": n_index, "emission_um": wavelength,
        "cell_um": cell, "oversample": oversample, "depth_layers": layers, "psf_size": int(psf.shape[0]),
        "resolution_um": resolution,
        "koch_um": float(koch_resolution_um(na=na, thickness_um=thickness)),
        "mtf50_lp_per_mm": 1000.0 / (2.0 * r50),
        "fwhm_um": lsf_fwhm_um(psf, cell),
        "eta_quanta": float(eta_q), "eta_energy": float(eta_e),
        "electrons_per_quantum": gain, "dqe0": float(dqe0),
        "fluence_per_um2": float(fluence),
        "neq_per_resolution_element": float(fluence * dqe0 * resolution**2),
        "light_mean_depth_um": mean_depth,
        # equivalent uniform thickness of the light's depth distribution (sqrt(12) sigma)
        "light_depth_spread_um": math.sqrt(12.0) * rms_depth,
    }


# --------------------------------------------------------------------------- report
def _key(v: float) -> str:
    return f"{v:.4g}"


def make_report(scenario, points, results, out_dir: Path, *, quick: bool):
    from twin.report import Quantity, Report

    out_dir = Path(out_dir)
    rep = Report(f"{scenario.name}: scintillator resolution vs detection efficiency",
                 scenario["scenario"]["question"] or "How do screen material, thickness and objective NA "
                 "trade resolution against X-ray detection efficiency?")
    _setup_rows(rep, scenario)
    if quick:
        rep.add_text("**Quick mode**: 16 depth layers for every screen (not converged for thick screens at "
                     "high NA) - numbers are indicative only.")
    rep.add_text(
        "R: half the period at which the MTF of the simulated depth-integrated PSF falls to 10 % (the reading "
        "of Koch's R, physics.psf.koch_resolution_um). FWHM: of the line spread function. eta_q / eta_E: "
        "absorbed fraction of the incident quanta / energy. g: photoelectrons per absorbed quantum. "
        "DQE(0) = eta_q g/(1+g). NEQ/res: noise-equivalent quanta per R x R element for one exposure.")
    res = list(results)
    materials = list(dict.fromkeys(r["material"] for r in res))
    header = ["thickness", "NA", "R", "R Koch", "MTF50", "FWHM", "eta_q", "eta_E", "g", "DQE(0)", "NEQ/res"]
    for mat in materials:
        rows = []
        for r in sorted((r for r in res if r["material"] == mat), key=lambda r: (r["thickness_um"], r["na"])):
            path = ("points", mat, _key(r["thickness_um"]), _key(r["na"]))
            rows.append([
                Quantity(r["thickness_um"], "um"), Quantity(r["na"]),
                rep.result(path + ("resolution",), r["resolution_um"], "um"),
                rep.result(path + ("koch",), r["koch_um"], "um"),
                rep.result(path + ("mtf50",), r["mtf50_lp_per_mm"], "lp/mm"),
                rep.result(path + ("fwhm",), r["fwhm_um"], "um"),
                rep.result(path + ("eta_quanta",), r["eta_quanta"], digits=3),
                rep.result(path + ("eta_energy",), r["eta_energy"], digits=3),
                rep.result(path + ("electrons_per_quantum",), r["electrons_per_quantum"], "e-", digits=3),
                rep.result(path + ("dqe0",), r["dqe0"], digits=3),
                rep.result(path + ("neq_per_resolution_element",), r["neq_per_resolution_element"], digits=3),
            ])
            for key in ("light_mean_depth_um", "light_depth_spread_um"):
                rep.result(path + (key[:-3],), r[key], "um")
            rep.result(path + ("depth_layers",), r["depth_layers"])
            rep.result(path + ("cell",), r["cell_um"], "um")
        rep.add_table(f"{mat} screens", header, rows)
    _best_for_targets(rep, res)
    figures = out_dir / "figures"
    _figure_resolution(res, materials, figures / "resolution_vs_thickness.png")
    rep.add_figure("figures/resolution_vs_thickness.png",
                   "Resolution R (MTF = 10 %) of the simulated depth-integrated PSF (markers) and the Koch et al. "
                   "thin-screen estimate (lines), per material and objective NA.")
    _figure_absorption(res, materials, figures / "absorption_vs_thickness.png")
    rep.add_figure("figures/absorption_vs_thickness.png",
                   "Absorbed fraction of the incident quanta (solid) and energy (dashed) of the 50 kVp spectrum "
                   "at the screen, and DQE(0) at each NA (dotted, right), per material.")
    _figure_tradeoff(res, materials, figures / "tradeoff.png")
    rep.add_figure("figures/tradeoff.png",
                   "Trade-off: resolution R against absorbed fraction eta_q (left) and DQE(0) including the "
                   "optical quantum sink (right); colour = material, marker = NA, size = thickness.")
    _conclusions(rep, res, materials)
    return rep


def _setup_rows(rep, scenario):
    from twin.report import Quantity

    src, spec, geo = scenario["source"], scenario["spectrum"], scenario["geometry"]
    rep.add_setup("tube", f"{src['target']} anode, {src['kvp']:g} kV, {src['current']:g} mA",
                  "paper")
    rep.add_setup("tube window", f"{spec['window_material']} {spec['window_thickness']:g} um",
                  "assumed: typical micro-focus Be window")
    rep.add_setup("source to screen (air path)", Quantity(geo["source_distance"], "um"),
                  "assumed: compact bench; the paper does not give it")
    rep.add_setup("exposure", Quantity(scenario["acquisition"]["exposure"], "s"), "assumed (as published scenario)")
    rep.add_setup("objective", f"{scenario['optics']['magnification']:g}x with "
                               f"{scenario['optics']['tube_lens'] / 1000:g} mm tube lens", "paper")
    rep.add_setup("camera pixel", Quantity(scenario["camera"]["pixel"], "um"), "paper (pco.edge 4.2)")
    rep.add_setup("camera QE", Quantity(scenario["camera"]["qe"]), "pco.edge 4.2 datasheet")
    rep.add_setup("light scattering blur", Quantity(scenario["scintillator"]["scatter_blur"], "um"),
                  "0 = transparent single-crystal film, Koch's model")
    rep.add_setup("substrate", "fused silica 500 um" if scenario["scintillator"]["substrate"] else "none",
                  "assumed (physics.scintillator.Substrate)")


def _criteria():
    """Resolution criteria for a target ``t``: Koch's (MTF >= 0.1 at 1/(2t)) and a stricter
    one (MTF >= 0.5 at 1/(2t)), which a PSF with a sharp core and wide wings can fail."""
    return (("mtf10", "R <= target (MTF >= 0.1)", lambda r, t: r["resolution_um"] <= t),
            ("mtf50", "MTF50 >= 1/(2 target)", lambda r, t: r["mtf50_lp_per_mm"] >= 1000.0 / (2.0 * t)))


def best_screen(res, target_um: float, criterion: str):
    """The swept point meeting ``criterion`` at ``target_um`` with the highest DQE(0), or None."""
    test = {name: fn for name, _, fn in _criteria()}[criterion]
    ok = [r for r in res if test(r, target_um)]
    return max(ok, key=lambda r: r["dqe0"]) if ok else None


def _best_for_targets(rep, res):
    from twin.report import Quantity

    rows = []
    for target in TARGETS_UM:
        for name, label, _ in _criteria():
            key = ("best_for_target", f"{target:g} um", name)
            best = best_screen(res, target, name)
            if best is None:
                rows.append([Quantity(target, "um"), label, "none in the sweep", "n/a", "n/a",
                             rep.result(key + ("dqe0",), None), rep.result(key + ("eta_quanta",), None)])
                continue
            rows.append([Quantity(target, "um"), label, best["material"],
                         rep.result(key + ("thickness",), best["thickness_um"], "um"),
                         rep.result(key + ("na",), best["na"]),
                         rep.result(key + ("dqe0",), best["dqe0"], digits=3),
                         rep.result(key + ("eta_quanta",), best["eta_quanta"], digits=3)])
    rep.add_table("Most efficient screen for a target resolution",
                  ["target", "criterion", "material", "thickness", "NA", "DQE(0)", "eta_q"], rows,
                  note="Among the swept points meeting the criterion, the one with the highest DQE(0).")


def _conclusions(rep, res, materials):
    thin_t = min(r["thickness_um"] for r in res)
    thick_t = max(r["thickness_um"] for r in res)
    thin = [r for r in res if r["thickness_um"] == thin_t]
    # 1. thin-screen limit: diffraction, R NA / lambda against Koch's p = 0.18 um
    k_thin = np.array([r["resolution_um"] * r["na"] / r["emission_um"] for r in thin])
    ratio_thin = np.array([r["resolution_um"] / r["koch_um"] for r in thin])
    rep.add_conclusion(
        f"Thinnest screens ({thin_t:.3g} um): R NA / lambda = {np.median(k_thin):.3f} (range {k_thin.min():.3f}-"
        f"{k_thin.max():.3f}), the diffraction value 0.310 of an aberration-free objective at MTF 10 %; Koch's "
        f"p = 0.18 um corresponds to lambda = 0.58 um, so at these emission wavelengths the simulated R is "
        f"{np.median(ratio_thin):.2f}x Koch's (range {ratio_thin.min():.2f}-{ratio_thin.max():.2f}).")
    # 2. thick screens: the defocus term. q_eff from R^2 = R_thin^2 + (q z NA)^2
    q_nom, q_eff_spread = [], []
    for r in res:
        base = [t for t in thin if t["material"] == r["material"] and t["na"] == r["na"]]
        if not base or r["thickness_um"] < 10 * thin_t:
            continue
        extra = r["resolution_um"] ** 2 - base[0]["resolution_um"] ** 2
        if extra <= 0:
            continue
        q = math.sqrt(extra) / (r["thickness_um"] * r["na"])
        q_nom.append((q, q * r["refractive_index"]))
        q_eff_spread.append(math.sqrt(extra) / (r["light_depth_spread_um"] * r["na"]) * r["refractive_index"])
    thick = [r for r in res if r["thickness_um"] == thick_t]
    spread = np.median([r["light_depth_spread_um"] / r["thickness_um"] for r in thick])
    ratio_thick = np.array([r["resolution_um"] / r["koch_um"] for r in thick])
    if q_nom:
        q_arr = np.array(q_nom)
        rep.add_conclusion(
            f"Thick screens ({thick_t:.3g} um): simulated R is {np.median(ratio_thick):.2f}x Koch's (range "
            f"{ratio_thick.min():.2f}-{ratio_thick.max():.2f}). Fitting R^2 = R_thin^2 + (q z NA)^2 to the points "
            f">= {10 * thin_t:.3g} um gives q = {np.median(q_arr[:, 0]):.4f} (median), Koch's 0.075 being "
            f"{0.075 / np.median(q_arr[:, 0]):.2f}x larger, against a median refractive index of "
            f"{np.median([r['refractive_index'] for r in res]):.2f}: q n = {np.median(q_arr[:, 1]):.3f}. "
            f"Refraction into the film (sin theta_in = NA/n) divides the geometric defocus blur by ~n, which "
            f"the formula does not carry. The light is not spread evenly over thick screens either: its "
            f"equivalent uniform depth spread is {spread:.2f} "
            f"of the thickness at {thick_t:.3g} um (median); with z = that spread, q n = "
            f"{np.median(q_eff_spread):.3f}.")
    # thick screens: wide, weak wings of defocused light lower mid frequencies (MTF50) far more
    # than they move the 10 % point (R)
    pairs = []
    for r in thick:
        base = next((t for t in thin if t["material"] == r["material"] and t["na"] == r["na"]), None)
        if base is not None:
            pairs.append((base["mtf50_lp_per_mm"] / r["mtf50_lp_per_mm"],
                          r["resolution_um"] / base["resolution_um"], r, base))
    if pairs:
        m50, rr, r, base = max(pairs, key=lambda x: x[0] / x[1])
        rep.add_conclusion(
            f"R (MTF 10 %) understates what thick screens lose: {r['thickness_um']:.3g} um {r['material']} at NA "
            f"{r['na']:g} has R only {rr:.2f}x that of the {base['thickness_um']:.3g} um screen, but MTF50 "
            f"{m50:.2f}x lower ({r['mtf50_lp_per_mm']:.3g} vs {base['mtf50_lp_per_mm']:.3g} lp/mm): the "
            f"defocused layers add wide, weak wings that cut mid frequencies while the in-focus layers keep the "
            f"10 % point. The target table therefore also applies an MTF50 criterion.")
    # 3. absorption and the optical quantum sink
    for mat in materials:
        rows = sorted((r for r in res if r["material"] == mat), key=lambda r: r["thickness_um"])
        ts = sorted({r["thickness_um"] for r in rows})
        eta = [next(r["eta_quanta"] for r in rows if r["thickness_um"] == t) for t in ts]
        half = _crossing(ts, eta, 0.5)
        g = [r["electrons_per_quantum"] for r in rows]
        rep.add_conclusion(
            f"{mat}: absorbs {eta[0]:.3g} of the incident quanta at {ts[0]:.3g} um and {eta[-1]:.3g} at "
            f"{ts[-1]:.3g} um; " + (f"half of them at {half:.3g} um (log interpolation); " if half else
                                     "never half within the sweep; ")
            + f"{min(g):.3g}-{max(g):.3g} photoelectrons per absorbed quantum over NA "
            f"{min(r['na'] for r in rows):g}-{max(r['na'] for r in rows):g}"
            + (f" - below 1 at low NA, a secondary quantum sink: DQE(0) = eta_q g/(1+g) keeps only "
               f"{min(g) / (1 + min(g)):.2f} of the absorbed quanta there ({max(g) / (1 + max(g)):.2f} at the "
               f"highest NA)." if min(g) < 1 else
               f"; DQE(0) keeps {min(g) / (1 + min(g)):.2f}-{max(g) / (1 + max(g)):.2f} of the absorbed quanta."))
    # 4. best screen for the paper's 1 and 2 um targets, by both criteria
    for target in (1.0, 2.0):
        picks = {name: best_screen(res, target, name) for name, _, _ in _criteria()}
        a, b = picks["mtf10"], picks["mtf50"]
        if a is None:
            continue
        text = (f"For R <= {target:g} um the most efficient swept screen is {a['thickness_um']:.3g} um "
                f"{a['material']} at NA {a['na']:g}: DQE(0) = {a['dqe0']:.3g}, eta_q = {a['eta_quanta']:.3g}, "
                f"R = {a['resolution_um']:.3g} um (Koch predicts {a['koch_um']:.3g} um), MTF50 = "
                f"{a['mtf50_lp_per_mm']:.3g} lp/mm")
        if b is None:
            text += f"; no swept screen reaches MTF 0.5 at {1000 / (2 * target):.3g} lp/mm."
        elif b is a:
            text += "; it also keeps MTF >= 0.5 at that frequency."
        else:
            text += (f"; keeping MTF >= 0.5 at {1000 / (2 * target):.3g} lp/mm needs {b['thickness_um']:.3g} um "
                     f"{b['material']} at NA {b['na']:g} (DQE(0) = {b['dqe0']:.3g}).")
        rep.add_conclusion(text)


def _crossing(xs, ys, level):
    """First x (log interpolation) where ys rises through level, or None."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if y0 < level <= y1:
            f = (level - y0) / (y1 - y0)
            return float(math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0))))
    return None


# --------------------------------------------------------------------------- figures
_COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7")


def _log_ticks(axis):
    """Readable log-axis labels: 1, 2, 5 x 10^k as plain numbers, no minor labels."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _figure_resolution(res, materials, path):
    from physics.psf import koch_resolution_um
    from twin.report import new_figure, save_figure

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
        _log_ticks(ax.xaxis)
        _log_ticks(ax.yaxis)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def _figure_absorption(res, materials, path):
    from twin.report import new_figure, save_figure

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
    _log_ticks(ax.xaxis)
    ax2.set(yscale="log", ylabel="DQE(0) (dotted)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, path)


def _figure_tradeoff(res, materials, path):
    from twin.report import new_figure, save_figure

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
        _log_ticks(ax.xaxis)
    _log_ticks(ax2.yaxis)
    ax2.legend(fontsize=6, ncol=2, loc="lower right")
    save_figure(fig, path)
