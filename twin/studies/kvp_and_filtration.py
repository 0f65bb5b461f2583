"""Study: tube voltage and filtration against feature contrast, dose, photoelectrons and exposure.

Per point (``source.kvp``, ``spectrum.filters``) and per set-up - the scenario's
lens-coupled system, and the flat panel of its geometric-magnification set-up
(:func:`twin.system.build_flat_panel`, same object-plane pixel) - from the spectrum on
the central ray, per second of the scenario's tube current (the detector's
:meth:`~physics.detector.Detector.photon_budget`):

* **contrast** of the feature (``object.material``, ``object.thickness``; large-area):
  ``C = 1 - sum a(E) exp(-mu(E) t) / sum a(E)``, ``a`` the quanta the detector absorbs;
* **dose rate** in the feature at its distance from the source (Beer-Lambert energy
  absorption, :func:`physics.materials.absorbed_dose_gy`);
* **photoelectrons** per object-plane pixel per second (absorbed quanta x the detector's
  gain ``g``) and DQE(0) = ``eta g / (1 + g)``;
* **exposure** for the feature SNR ``geometric.snr_target`` (open-field SNR ``SNR / C``,
  Poisson gain stage, read noise and dark current: :meth:`physics.detector.PhotonBudget.exposure_for_snr_s`)
  and the **dose** that exposure gives the feature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.studies import Study

SETUPS = ("lens_coupled", "flat_panel")


def filter_label(filters) -> str:
    return " + ".join(f"{t / 1000:g} mm {m}" for m, t in filters) or "none"


def compute(point) -> dict:
    from physics import materials
    from twin.system import build_flat_panel, build_system, geometric_design, optical_design

    s = point.scenario
    material, t = s["object"]["material"], s["object"]["thickness"]
    system = build_system(s)
    spectrum, per_s = system.spectrum, 1.0 / s["acquisition"]["exposure"]
    optical = optical_design(s)
    setups = {"lens_coupled": (system.detector, optical),
              "flat_panel": (build_flat_panel(s), geometric_design(s, optical))}
    out = {"kvp": s["source"]["kvp"], "filters": filter_label(s["spectrum"]["filters"])}
    for name, (detector, design) in setups.items():
        e, at_object = spectrum.fluence_at(design.source_object_um, air_path=s["spectrum"]["air_path"])
        e, at_detector = spectrum.fluence_at(design.source_detector_um, air_path=s["spectrum"]["air_path"])
        incident = at_detector * design.detector_pixel_um**2 * per_s       # per pixel per s, per bin
        budget = detector.photon_budget(e, incident)                          # quanta per pixel per s
        absorbed = incident * np.asarray(detector.interaction_probability(e), float)
        mu = np.asarray(materials.linear_attenuation_per_um(material, e), float)
        contrast = 1.0 - float(np.sum(absorbed * np.exp(-mu * t)) / absorbed.sum())
        exposure = budget.exposure_for_snr_s(s["geometric"]["snr_target"] / contrast)
        dose_rate = materials.absorbed_dose_gy(e, at_object * per_s, material, t)
        out[name] = {"mean_energy_kev": float(np.sum(absorbed * e) / absorbed.sum()), "contrast": contrast,
                     "dose_rate_gy_per_s": dose_rate, "absorbed_per_pixel_per_s": budget.absorbed,
                     "electrons_per_quantum": budget.gain, "electrons_per_pixel_per_s": budget.electrons,
                     "quantum_sink": budget.quantum_sink[0], "dqe0": budget.dqe0,
                     "exposure_for_snr_s": exposure, "dose_for_snr_gy": dose_rate * exposure}
    return out


COLUMNS = (("mean_energy_kev", "keV", "mean absorbed energy"), ("contrast", "", "contrast"),
           ("dose_rate_gy_per_s", "Gy/s", "dose rate"), ("electrons_per_pixel_per_s", "1/s", "e- / pixel / s"),
           ("dqe0", "", "DQE(0)"), ("exposure_for_snr_s", "s", "exposure for SNR"),
           ("dose_for_snr_gy", "Gy", "dose for SNR"))


def report(sweep):
    from twin.report import Quantity, Report, new_figure, save_figure

    order = list(dict.fromkeys(r["filters"] for r in sweep.results))  # filters in sweep order
    s, res = sweep.scenario, sorted(sweep.results, key=lambda r: (order.index(r["filters"]), r["kvp"]))
    rep = Report(s.name, s["scenario"]["question"] or "Which tube voltage and filtration?")
    rep.add_setup("feature", f"{s['object']['thickness']:g} um {s['object']['material']}", "object.material/thickness")
    rep.add_setup("tube current", Quantity(s["source"]["current"], "mA"), "paper")
    rep.add_setup("feature SNR target", Quantity(s["geometric"]["snr_target"]), "geometric.snr_target")
    for setup in SETUPS:
        rows = [[Quantity(r["kvp"], "kV"), r["filters"]] + [
            rep.result(("points", setup, r["filters"], f"{r['kvp']:g}", key), r[setup][key], unit)
            for key, unit, _ in COLUMNS] for r in res]
        rep.add_table(f"{setup.replace('_', '-')} set-up", ["tube voltage", "filter"] + [c[2] for c in COLUMNS], rows,
                      note="Per object-plane pixel per second of the scenario's tube current, central ray.")
    fig = new_figure(width=12, height=3.8)
    for ax, (key, label) in zip(fig.subplots(1, 3), (("contrast", "feature contrast"),
                                                     ("exposure_for_snr_s", "exposure for SNR (s)"),
                                                     ("dose_for_snr_gy", "dose for SNR (Gy)"))):
        for i, f in enumerate(dict.fromkeys(r["filters"] for r in res)):
            pts = [r for r in res if r["filters"] == f]
            for setup, style in zip(SETUPS, ("-o", "--s")):
                ax.plot([r["kvp"] for r in pts], [r[setup][key] for r in pts], style, color=f"C{i}",
                        label=f"{setup.replace('_', '-')}, {f}")
        ax.set(xlabel="tube voltage (kV)", ylabel=label, yscale="log" if key != "contrast" else "linear")
        ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    save_figure(fig, Path(sweep.out_dir) / "figures" / "kvp.png")
    rep.add_figure("figures/kvp.png", "Feature contrast, exposure and dose for the SNR target against tube "
                   "voltage; colour = filter, solid = lens-coupled, dashed = flat panel.")
    _findings(rep, res)
    return rep


def _findings(rep, res):
    for setup in SETUPS:
        for f in dict.fromkeys(r["filters"] for r in res):
            pts = [r for r in res if r["filters"] == f]
            lo, hi = pts[0], pts[-1]
            best = min(pts, key=lambda r: r[setup]["dose_for_snr_gy"])
            fast = min(pts, key=lambda r: r[setup]["exposure_for_snr_s"])
            rep.add_finding(
                setup.replace("_", "-") + ", filter " + f + ": the feature's contrast falls from {c_lo:.3g} at "
                "{kv_lo:g} kV to {c_hi:.3g} at {kv_hi:g} kV; the least dose for the SNR target, {dose:.3g} Gy "
                "({t:.3g} s), is at {kv_best:g} kV, the shortest exposure ({t_fast:.3g} s) at {kv_fast:g} kV",
                {"c_lo": lo[setup]["contrast"], "c_hi": hi[setup]["contrast"], "kv_lo": lo["kvp"], "kv_hi": hi["kvp"],
                 "dose": best[setup]["dose_for_snr_gy"], "t": best[setup]["exposure_for_snr_s"],
                 "kv_best": best["kvp"], "t_fast": fast[setup]["exposure_for_snr_s"], "kv_fast": fast["kvp"]},
                ("c_hi", "<", "c_lo"))
    for r in res[:1] + [r for r in res if r["filters"] == res[0]["filters"]][-1:]:
        a, b = r["lens_coupled"], r["flat_panel"]
        rep.add_finding(
            "At {kv:g} kV (filter " + r["filters"] + ") the lens-coupled detector gives {g:.2g} photoelectrons per "
            "absorbed X-ray (DQE(0) {dqe:.2g}, flat panel {dqe_fp:.2g}) and needs {t:.3g} s for the SNR target "
            "against {t_fp:.3g} s for the flat panel, whose object sits closer to the source",
            {"kv": r["kvp"], "g": a["electrons_per_quantum"], "dqe": a["dqe0"], "dqe_fp": b["dqe0"],
             "t": a["exposure_for_snr_s"], "t_fp": b["exposure_for_snr_s"]}, ("t_fp", "<", "t"))


STUDY = Study("kvp_and_filtration", compute=compute, report=report, quick={},  # cheap: --quick runs it as is
              doc="tube voltage and filtration against contrast, dose and exposure for two detectors")
