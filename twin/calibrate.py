"""``twin calibrate``: fit scenario parameters to measured edge (and noise) images.

The scenario names the edge (``[object] phantom = "edge"``, its material, thickness
and height) and the starting values; the keys given by ``--fit`` are fitted by
:func:`physics.calibrate.fit_least_squares` through the chain, with the edge
angle and position and an affine grey-level map (level, background) as nuisance
parameters. A camera noise image fits ``camera.gain`` / ``camera.read_noise`` from
its mean and variance (:func:`physics.calibrate.uniform_frame_moments`).

Outputs: ``calibrated.toml`` (the scenario with the fitted values, their standard
uncertainties in comments and in a ``[calibration]`` table), ``report.md`` with
``results.json`` and figures (measured and fitted ESF, LSF, MTF, residuals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from physics import chain
from physics.errors import InputFileError, OptionError
from physics.calibrate import (FitResult, Parameter, edge_initial_guess, edge_object, fit_least_squares,
                               frame_moments, model_transmission, uniform_frame_moments)
from physics.camera import flat_dark_correct
from physics.detector import FlatPanel
from physics.imageio import atomic_path, read_tiff
from physics.measure.edge import measure_edge
from twin.report import Quantity, Report, new_figure, save_figure
from twin.scenario import Scenario, ScenarioError
from twin.system import build_system
from twin.tunable import NOISE_KEYS, View, apply_values, current_value, psf_size_for, quantity_text, tunable

#: Field cells of margin around the ROI so the edge map covers every ray (assumed: the
#: edge plane sits close to the screen, so rays shift by far less than this).
EDGE_PAD_CELLS = 8
#: PSF window: the chain's own rule (physics.chain.psf_support) at the starting values, with
#: room for the Gaussian-type blurs to double. Not wider: the window truncates the far Airy
#: rings, and a window much wider than the one an edge was simulated with biases a weakly
#: identified thickness (measured: 10 um screen fitted as 9.56 um with this window, 8.94 um
#: with a 3x wider one, from the same 100 s frames).
#: Largest margin (pixels) modelled around the ROI for the light the PSF brings in from
#: beyond it (assumed: 32 px holds 99 % of a glare of 5 px length, 1 - (1 + 6.4) e^-6.4;
#: the cost grows with the margin).
MAX_MARGIN_PX = 32
BLUR_HEADROOM = {"scintillator.scatter_blur": 2.0, "source.focal_spot_size": 2.0, "detector.blur": 2.0,
                 "detector.glare_length": 2.0, "detector.shoulder_length": 2.0}
#: Where a key's value of 0 cannot start a gradient fit (no curvature at 0, or a log response
#: of an opaque edge's zero exposure), the start, as a function of the pixel (um): half a
#: pixel of blur, 5 % glare or shoulder (assumed: a small glare to grow or shrink), a veil of 1 % of the
#: open field (assumed: about the scatter under an opaque plate).
ZERO_START = {"scintillator.scatter_blur": lambda pixel: 0.5 * pixel,
              "detector.blur": lambda pixel: 0.5 * pixel,
              "detector.glare_fraction": lambda pixel: 0.05,
              "detector.shoulder_fraction": lambda pixel: 0.05,
              "detector.response_offset": lambda pixel: 0.01}


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    fitted : dict
        ``{key: {"value", "unit", "std"}}`` for every fitted scenario key.
    correlation : dict
        ``{"keys": [...], "matrix": [[...]]}`` over the fitted keys.
    warnings : list of str
    edge_fit, noise_fit : FitResult or None
    measured, model : np.ndarray or None
        The edge image fitted and the best-fit model (same grey levels).
    pixel_um : float
    mtf50_measured, mtf50_model : float or None
        lp/mm, from :func:`physics.measure.edge.measure_edge` on both images.
    """

    fitted: dict
    correlation: dict
    warnings: list
    edge_fit: FitResult | None
    noise_fit: FitResult | None
    measured: np.ndarray | None
    model: np.ndarray | None
    pixel_um: float
    mtf50_measured: float | None
    mtf50_model: float | None
    loss: float | None


def read_frame(path, *, option: str, view: int | None = None) -> tuple[np.ndarray, float | None]:
    """One 2D frame from a TIFF (a stack's middle view unless ``view`` is given)."""
    img = read_tiff(path)
    data = np.asarray(img.data)
    if data.ndim == 3:
        k = data.shape[0] // 2 if view is None else view
        if not 0 <= k < data.shape[0]:
            raise InputFileError(f"{path}: view {k} is outside the {data.shape[0]} frames of {option}")
        data = data[k]
    if data.ndim != 2:
        raise InputFileError(f"{path}: {option} must be a 2D frame or a stack of frames, got shape {data.shape}")
    return data.astype(np.float64), img.pixel_size_um


def calibrate(scenario: Scenario, *, keys: list[str], edge=None, flat=None, dark=None, noise=None,
              noise_dark=None, edge_pixel_um: float | None = None, edge_noise=None, saturation: float | None = None,
              callback=None) -> Calibration:
    """Fit ``keys`` of ``scenario`` to an edge image (and/or camera noise frames).

    Parameters
    ----------
    scenario : Scenario
        Starting values; ``[object]`` describes the edge.
    keys : list of str
        Scenario keys to fit (see :data:`twin.tunable.TUNABLE`).
    edge : array (rows, cols), optional
        Raw frame (with ``flat`` and ``dark``) or a transmission / processed image.
    flat, dark : array, optional
        Open-beam and dark frames (averaged) for a raw ``edge``.
    noise, noise_dark : array, optional
        Raw open-beam frames (one or a stack) and dark frames for ``camera.*`` keys.
    edge_pixel_um : float, optional
        Pixel size stated by the edge file, checked against the scenario's.
    edge_noise : (a, b), optional
        Variance model ``var = a * mean + b`` of the edge image's pixels (e.g. from repeated
        frames); default: estimated from the residuals of a first, unweighted fit
        (:func:`physics.calibrate.fit_least_squares`).
    saturation : float, optional
        Grey level of ``edge`` at and above which its pixels are saturated (the sensor or
        its readout clipped them): the model is clipped there too (a censored fit,
        ``ceiling`` of :func:`physics.calibrate.fit_least_squares`), and both MTF50s are
        measured on the images clipped at this level, so they compare the same clipped edge.
    """
    if not keys:
        raise OptionError("--fit: name at least one key")
    for key in keys:
        tunable(key, option="--fit")
    noise_keys = [k for k in keys if k in NOISE_KEYS]
    edge_keys = [k for k in keys if k not in NOISE_KEYS]
    if edge_keys and edge is None:
        raise OptionError(f"--edge: needed to fit {', '.join(edge_keys)}")
    if noise_keys and noise is None and noise_dark is None:
        raise OptionError(f"--noise: needed to fit {', '.join(noise_keys)}")
    fitted, warnings = {}, []
    edge_fit = noise_fit = None
    measured = model = None
    mtf_meas = mtf_model = None
    system = build_system(scenario)
    if edge is not None:
        measured = _edge_transmission(edge, flat, dark)
        scenario = _with_roi(scenario, measured.shape)
        system = build_system(scenario)
        pixel = system.pixel_um
        if edge_pixel_um is not None and abs(edge_pixel_um / pixel - 1) > 0.01:
            raise OptionError(f"--edge: the file's pixel size {edge_pixel_um:g} um differs from the "
                             f"scenario's {pixel:g} um (camera.pixel / magnification)")
        if saturation is not None and not np.any(measured < saturation):
            raise OptionError(f"--saturation: every pixel of the edge is at or above {saturation:g}")
        edge_fit = _fit_edge(scenario, system, measured, edge_keys, callback, edge_noise, saturation)
        model = edge_fit.model
        mtf_meas = _mtf50(measured if saturation is None else np.minimum(measured, saturation), pixel)
        mtf_model = _mtf50(model, pixel)
        _collect(fitted, edge_fit, edge_keys)
        warnings += list(edge_fit.warnings)
    if noise_keys:
        noise_fit = _fit_noise(scenario, system, noise_keys, noise, noise_dark)
        _collect(fitted, noise_fit, noise_keys)
        warnings += list(noise_fit.warnings)
    corr_keys = list(fitted)
    matrix = np.eye(len(corr_keys))
    for fit, ks in ((edge_fit, edge_keys), (noise_fit, noise_keys)):
        if fit is None:
            continue
        idx = [fit.names.index(k) for k in ks]
        pos = [corr_keys.index(k) for k in ks]
        matrix[np.ix_(pos, pos)] = fit.correlation[np.ix_(idx, idx)]
    loss = edge_fit.chi2_per_dof if edge_fit is not None else noise_fit.chi2_per_dof
    return Calibration(fitted=fitted, correlation={"keys": corr_keys, "matrix": matrix.tolist()},
                       warnings=warnings, edge_fit=edge_fit, noise_fit=noise_fit, measured=measured,
                       model=model, pixel_um=float(system.pixel_um), mtf50_measured=mtf_meas,
                       mtf50_model=mtf_model, loss=float(loss))


def _edge_transmission(edge, flat, dark) -> np.ndarray:
    edge = np.asarray(edge, dtype=np.float64)
    if (flat is None) != (dark is None):
        raise OptionError("--flat/--dark: give both or neither")
    if flat is None:
        return edge
    if not (edge.shape == np.shape(flat) == np.shape(dark)):
        raise OptionError(f"--edge/--flat/--dark: shapes differ ({edge.shape}, {np.shape(flat)}, "
                         f"{np.shape(dark)})")
    return np.asarray(flat_dark_correct(edge, flat=flat, dark=dark), dtype=np.float64)


def _with_roi(scenario: Scenario, shape) -> Scenario:
    rows, cols = shape
    cam = scenario["camera"]
    if rows > cam["rows"] or cols > cam["cols"]:
        raise OptionError(f"--edge: a {rows}x{cols} image is larger than the scenario's "
                         f"{cam['rows']}x{cam['cols']} sensor")
    return scenario.with_values({"camera.roi_rows": int(rows), "camera.roi_cols": int(cols)})


def _source(scenario: Scenario) -> np.ndarray:
    return np.array([0.0, 0.0, scenario["geometry"]["source_distance"]], dtype=np.float32)


def _fit_edge(scenario, system, measured, keys, callback, noise=None, saturation=None) -> FitResult:
    ob = scenario["object"]
    if ob["phantom"] != "edge":
        raise ScenarioError(f"object.phantom: {ob['phantom']!r}; calibrating from an edge needs "
                            "phantom = \"edge\" (with its material, thickness and height)")
    source = _source(scenario)
    start = {k: current_value(scenario, k, system) for k in keys}
    start = {k: (ZERO_START[k](system.pixel_um) if v == 0 and k in ZERO_START else v) for k, v in start.items()}
    ranges = {k: (v, BLUR_HEADROOM.get(k, 1.0) * v) for k, v in start.items()}
    at_start = apply_values(View(system, jnp.asarray(source)), start).system
    psf_size = psf_size_for(at_start, ranges)
    _check_unsaturated(at_start, source)
    margin = _margin_px(at_start, psf_size)
    roi_rows, roi_cols = system.roi_shape
    wide = chain.with_params(system, roi_shape=(roi_rows + 2 * margin, roi_cols + 2 * margin))
    cell = system.cell_um
    rows, cols = wide.field_shape
    shape = (rows + 2 * EDGE_PAD_CELLS, cols + 2 * EDGE_PAD_CELLS)
    # Taps beyond the wide field's extent never reach a pixel: a longer kernel only costs time.
    psf_size = min(psf_size, 2 * max(rows, cols) - 1)
    angle0, offset0 = edge_initial_guess(measured, pixel_um=system.pixel_um)
    params = [_parameter(scenario, k, v) for k, v in start.items()]
    params += [Parameter("edge.angle", angle0, scale=1.0, nuisance=True),
               Parameter("edge.offset", offset0, scale=system.pixel_um, nuisance=True)]
    material, thickness, height = ob["material"], ob["thickness"], ob["height"]

    def predict(values):
        view = apply_values(View(wide, jnp.asarray(source)), {k: values[k] for k in keys})
        obj = edge_object(material=material, thickness_um=thickness, height_um=height,
                          angle_deg=values["edge.angle"], offset_um=values["edge.offset"], cell_um=cell,
                          shape=shape)
        image = model_transmission(view.system, obj, view.source_um, psf_size=psf_size, object_plane_um=height)
        return image[margin:margin + roi_rows, margin:margin + roi_cols]

    return fit_least_squares(predict, measured, params, affine=True, callback=callback, noise=noise,
                             ceiling=saturation)


def _margin_px(system, psf_size: int) -> int:
    """Pixels modelled around the ROI for the light the PSF brings in from beyond it.

    The chain blurs with a zero boundary (:func:`physics.psf.apply_psf_binned`), as if no
    light came from beyond the ROI. A glare tail reaches tens of pixels, so a measured ROI
    receives a share of its light from outside: a flat panel with glare is modelled with a
    margin of the PSF's half-width (at most :data:`MAX_MARGIN_PX`), cropped after the blur.
    The lens-coupled PSF keeps its energy within a pixel or two, and ``twin simulate``'s own
    frames carry the chain's zero boundary, which a margin would then misfit (measured: the
    10 um screen of scenarios/calibrate_edge.toml fitted as 8.7 um with a 19 px margin,
    9.7 um without); it gets none.
    """
    det = system.detector
    if not (isinstance(det, FlatPanel) and (det.glare_fraction > 0 or det.shoulder_fraction > 0)):
        return 0
    return min(int(math.ceil((psf_size // 2) / system.oversample)), MAX_MARGIN_PX)


def _check_unsaturated(system, source) -> None:
    """A saturated model open field makes the fitted edge a clipped step: refuse it."""
    small = chain_roi(system)
    flat, _ = chain.open_field(small, jnp.asarray(source), chain.view_response(small, jnp.asarray(source)))
    cam = small.camera
    ceiling = min(cam.max_adu, cam.full_well_e / cam.gain_e_per_adu + cam.offset_adu)
    if float(jnp.max(flat)) >= 0.999 * ceiling:
        raise ScenarioError(f"camera.full_well: the scenario's open field saturates the camera "
                            f"({float(jnp.max(flat)):.6g} ADU at the {ceiling:.6g} ADU ceiling), so a model "
                            "edge would be clipped; lower acquisition.exposure or raise camera.full_well/gain")


def _parameter(scenario, key, value) -> Parameter:
    t = tunable(key, option="--fit")
    lo, hi = t.lower(scenario), t.upper(scenario)
    if t.log:
        return Parameter(key, value, max(lo, value * 1e-3), hi, log=True)
    return Parameter(key, value, lo, hi, scale=abs(value) if value else 1.0)


def _fit_noise(scenario, system, keys, noise, noise_dark) -> FitResult:
    """Gain / read noise from the mean and variance of open-beam and dark frames."""
    source = _source(scenario)
    observed, sigma, lit = [], [], []
    for frames, illuminated in ((noise, True), (noise_dark, False)):
        if frames is None:
            continue
        mean, var, n = frame_moments(frames, border=4 if np.ndim(frames) >= 2 and min(np.shape(frames)[-2:]) > 16
                                     else 0)
        # Standard errors of a sample mean and variance (Gaussian pixels).
        observed += [mean, var]
        sigma += [math.sqrt(max(var, 1e-12) / n), max(var, 1e-12) * math.sqrt(2.0 / max(n - 1, 1))]
        lit.append(illuminated)
    start = {k: current_value(scenario, k, system) for k in keys}
    params = [_parameter(scenario, k, v if v > 0 else 1.0) for k, v in start.items()]
    small = chain_roi(system)

    def predict(values):
        view = apply_values(View(small, jnp.asarray(source)), values)
        out = []
        for illuminated in lit:
            m, v = uniform_frame_moments(view.system, view.source_um, illuminated=illuminated)
            out += [m, v]
        return jnp.stack(out)

    return fit_least_squares(predict, np.array(observed), params, sigma=np.array(sigma))


def chain_roi(system):
    """The system on a small ROI: uniform-frame moments need only the PSF."""
    from physics import chain

    return chain.with_params(system, roi_shape=(8, 8))


def _collect(fitted, fit: FitResult, keys) -> None:
    for k in keys:
        fitted[k] = {"value": fit.value(k), "unit": tunable(k, option="--fit").unit, "std": fit.std_of(k)}


def _mtf50(image, pixel_um):
    try:
        return measure_edge(image, pixel_size_um=pixel_um, strict=False).mtf50_lp_per_mm
    except ValueError:
        return None


# --------------------------------------------------------------------------- outputs
def write_calibrated(scenario: Scenario, cal: Calibration, path, *, sources: str) -> Path:
    """The scenario with fitted values, uncertainties in comments and a [calibration] table."""
    raw = {t: dict(v) for t, v in scenario.raw.items() if t not in ("sweep", "calibration")}
    comments = {}
    for key, f in cal.fitted.items():
        table, name = key.split(".")
        raw.setdefault(table, {})[name] = _file_value(scenario, key, f["value"])
        comments[key] = (f"calibrated: {quantity_text(f['value'], f['unit'], digits=4)} +- "
                         f"{quantity_text(f['std'], f['unit'], digits=2)} (1 sigma; twin calibrate, {sources})")
    raw["scenario"]["name"] = f"{scenario.name}_calibrated"
    lines = [f"# {scenario.name} calibrated by `twin calibrate` from {sources}.",
             "# Fitted values replace the scenario's; each carries its standard uncertainty in a",
             "# comment and in [calibration] (read by the scenario loader, used by no simulation).", ""]
    for table, values in raw.items():
        if not values:
            continue
        lines.append(f"[{table}]")
        for name, value in values.items():
            if value is None:
                continue
            text = f"{name} = {_toml(value)}"
            note = comments.get(f"{table}.{name}")
            lines.append(f"{text}  # {note}" if note else text)
        lines.append("")
    lines.append("[calibration]")
    lines.append(f"data = {_toml(sources)}")
    if cal.loss is not None:
        lines.append(f"chi2_per_dof = {cal.loss:.6g}")
    if cal.mtf50_measured is not None and cal.mtf50_model is not None:
        lines.append(f"mtf50_measured = \"{cal.mtf50_measured:.6g} lp/mm\"")
        lines.append(f"mtf50_model = \"{cal.mtf50_model:.6g} lp/mm\"")
    for key, f in cal.fitted.items():
        lines.append(f"[calibration.\"{key}\"]")
        lines.append(f"std = {_toml(quantity_text(f['std'], f['unit'], digits=4) if f['unit'] else f['std'])}")
        others = {k: round(c, 4) for k, c in zip(cal.correlation["keys"],
                                                   cal.correlation["matrix"][cal.correlation["keys"].index(key)])
                  if k != key}
        if others:
            lines.append("correlation = {" + ", ".join(f"\"{k}\" = {v}" for k, v in others.items()) + "}")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


def _file_value(scenario, key, value):
    t = tunable(key, option="--fit")
    return quantity_text(value, t.unit, digits=6) if t.unit else float(f"{value:.6g}")


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_json(cal: Calibration) -> dict:
    """The ``--json`` output."""
    return {"fitted": cal.fitted, "correlation": cal.correlation, "loss": cal.loss,
            "warnings": cal.warnings, "mtf50_measured_lp_per_mm": cal.mtf50_measured,
            "mtf50_model_lp_per_mm": cal.mtf50_model}


def write_report(scenario: Scenario, cal: Calibration, out: Path, *, sources: str) -> Path:
    """report.md + results.json + figures (edge.png, residuals.png)."""
    rep = Report(f"Calibration of {scenario.name}",
                 f"Which values of {', '.join(cal.fitted)} make the twin reproduce {sources}?")
    rows = []
    for key, f in cal.fitted.items():
        start = scenario[key.split(".")[0]][key.split(".")[1]]
        rows.append([key, "default" if start is None else Quantity(start, f["unit"]),
                     rep.result(("fitted", key, "value"), f["value"], f["unit"]),
                     rep.result(("fitted", key, "std"), f["std"], f["unit"], digits=2)])
    rep.add_table("Fitted values", ["key", "start", "fitted", "standard uncertainty"], rows,
                  note="Standard uncertainties from the curvature of the Poisson-Gaussian likelihood at the "
                       "optimum, widened for the measured correlation of the residuals "
                       "(physics.calibrate).")
    keys = cal.correlation["keys"]
    if len(keys) > 1:
        rep.add_table("Correlation of the fitted values", ["", *keys],
                      [[k, *[rep.result(("correlation", k, j), c, digits=3) for j, c in zip(keys, row)]]
                       for k, row in zip(keys, cal.correlation["matrix"])])
    if cal.edge_fit is not None:
        f = cal.edge_fit
        nuis = [[n, rep.result(("nuisance", n, "value"), v), rep.result(("nuisance", n, "std"), s, digits=2)]
                for n, v, s, is_n in zip(f.names, f.values, f.std, f.nuisance) if is_n]
        rep.add_table("Nuisance parameters of the edge", ["parameter", "value", "std"], nuis,
                      note="edge.angle: direction of the absorber normal from +x (deg); edge.offset: its "
                           "distance from the image centre (um); level/background: affine grey-level map.")
        rep.add_table("Fit", ["quantity", "value"], [
            ["chi2 per degree of freedom", rep.result("chi2_per_dof", f.chi2_per_dof, digits=3)],
            ["chain evaluations", rep.result("evaluations", f.evaluations)],
            ["noise model a (var = a mean + b)", rep.result(("noise", "a"), f.noise[0], digits=3)],
            ["noise model b", rep.result(("noise", "b"), f.noise[1], digits=3)],
            ["MTF50 measured", rep.result("mtf50_measured", _or_nan(cal.mtf50_measured), "lp/mm")],
            ["MTF50 of the fitted model", rep.result("mtf50_model", _or_nan(cal.mtf50_model), "lp/mm")]])
        _edge_figures(cal, out)
        rep.add_figure("edge.png", "Measured (dots) and fitted (line) edge spread, line spread and MTF "
                                   "(ISO 12233 slanted-edge analysis of both images).")
        rep.add_figure("residuals.png", "Measured image, fitted model and normalised residuals "
                                        "(measured - model) / sigma.")
    if cal.noise_fit is not None:
        f = cal.noise_fit
        rep.add_text(f"Camera noise frames: chi2 per degree of freedom {f.chi2_per_dof:.3g}, "
                     f"{f.evaluations} chain evaluations (mean and variance of the frames against "
                     "physics.calibrate.uniform_frame_moments).")
    for w in cal.warnings:
        rep.add_conclusion(f"Warning: {w}.")
    for key, f in cal.fitted.items():
        rep.add_conclusion(f"{key} = {quantity_text(f['value'], f['unit'], digits=4)} "
                           f"+- {quantity_text(f['std'], f['unit'], digits=2)}.")
    return rep.write(out)[0]


def _or_nan(value):
    return math.nan if value is None else value


def _edge_figures(cal: Calibration, out: Path) -> None:
    meas = measure_edge(cal.measured, pixel_size_um=cal.pixel_um, strict=False)
    mod = measure_edge(cal.model, pixel_size_um=cal.pixel_um, strict=False)
    fig = new_figure(width=10.0, height=3.2)
    axes = fig.subplots(1, 3)
    for ax, attr, label in zip(axes[:2], ("esf", "lsf"), ("ESF", "LSF (1/px)")):
        ax.plot(meas.position_px * cal.pixel_um, getattr(meas, attr), ".", ms=2, label="measured")
        ax.plot(mod.position_px * cal.pixel_um, getattr(mod, attr), "-", lw=1, label="fitted model")
        ax.set(xlabel="distance from the edge (um)", ylabel=label)
    scale = 1e3 / cal.pixel_um
    axes[2].plot(meas.frequency_cyc_per_px * scale, meas.mtf, ".", ms=2, label="measured")
    axes[2].plot(mod.frequency_cyc_per_px * scale, mod.mtf, "-", lw=1, label="fitted model")
    axes[2].axhline(0.5, color="0.7", lw=0.5)
    axes[2].set(xlabel="lp/mm", ylabel="MTF", ylim=(0, 1.1))
    axes[2].legend(fontsize=7)
    save_figure(fig, out / "edge.png")
    f = cal.edge_fit
    a, b = f.noise
    sigma = np.sqrt(np.maximum(a * cal.model + b, 1e-30))
    fig = new_figure(width=10.0, height=3.2)
    axes = fig.subplots(1, 3)
    for ax, img, title in zip(axes, (cal.measured, cal.model, (cal.measured - cal.model) / sigma),
                              ("measured", "fitted model", "normalised residual")):
        im = ax.imshow(img, cmap="gray" if title != "normalised residual" else "RdBu_r")
        ax.set(title=title, xticks=[], yticks=[])
        fig.colorbar(im, ax=ax, shrink=0.8)
    save_figure(fig, out / "residuals.png")
