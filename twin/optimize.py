"""``twin optimize``: design a system by gradient over continuous scenario keys.

An objective computed by the chain (:mod:`physics.optimize`: MTF50/MTF10,
DQE at a frequency, SNR of a line-pair group, exposure for a target SNR) is
optimised over ``--vary KEY=LO:HI`` ranges by bounded L-BFGS-B on jax gradients
(SLSQP with derived-quantity constraints). Each key is mapped to the unit interval,
logarithmically when the range spans a factor of 10 or more. The optimum is verified
by a forward simulation of a slanted edge measured by the ISO 12233 toolkit, and
compared with a grid over the same ranges; the report plots the optimisation path
on the grid's curve (one key) or map (two keys).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from physics.errors import OptionError
from physics import chain
from physics.calibrate import edge_object, model_transmission
from physics.measure.edge import measure_edge
from physics.optimize import (dqe, exposure_for_snr, grid_values, line_pair_snr, minimize_bounded,
                              mtf_crossing, presampled_mtf)
from physics.units import to_float
from twin.report import Report, new_figure, save_figure
from twin.scenario import Scenario
from twin.system import build_system
from twin.tunable import TUNABLE, View, apply_values, current_value, psf_size_for, quantity_text, tunable

_OBJECTIVE_RE = re.compile(r"^(mtf50|mtf10)$|^(dqe|snr|exposure)@(.+)$")
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z0-9_.@/ ]+?)\s*(<=|>=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Objective:
    """A parsed ``--objective``: its name, argument (1/um or um) and direction."""

    text: str
    kind: str
    argument: float | None
    unit: str
    maximize: bool


def parse_frequency(text: str, *, option: str) -> float:
    """``"500 lp/mm"``, ``"0.5 1/um"`` -> cycles per um."""
    m = re.match(r"^\s*([0-9.eE+-]+)\s*(lp|cy|cycles)\s*/\s*(mm|um)\s*$", text)
    if m:
        value = float(m.group(1))
        return value / 1000.0 if m.group(3) == "mm" else value
    return to_float(text, "1/um", key=option, min_value=0.0)


def parse_objective(text: str) -> Objective:
    m = _OBJECTIVE_RE.match(text.strip().lower())
    if not m:
        raise OptionError(f"--objective {text}: expected mtf50, mtf10, dqe@F (e.g. dqe@500lp/mm), snr@W or "
                         "exposure@W (e.g. snr@1um)")
    if m.group(1):
        return Objective(text, m.group(1), None, "lp/mm", True)
    kind, arg = m.group(2), m.group(3)
    if kind == "dqe":
        f = parse_frequency(arg, option=f"--objective {text}")
        if not f > 0:
            raise OptionError(f"--objective {text}: the frequency must be > 0")
        return Objective(text, kind, f, "", True)
    width = to_float(arg, "um", key=f"--objective {text}", min_value=0.0)
    if not width > 0:
        raise OptionError(f"--objective {text}: the line width must be > 0")
    return Objective(text, kind, width, "" if kind == "snr" else "s", kind == "snr")


def parse_vary(items: list[str]) -> dict[str, tuple[float, float]]:
    """``["scintillator.thickness=1 um:40 um", ...]`` -> ``{key: (lo, hi)}`` in internal units."""
    if not items:
        raise OptionError("--vary: give at least one KEY=LO:HI")
    out = {}
    for item in items:
        key, sep, rng = item.partition("=")
        key = key.strip()
        lo_text, sep2, hi_text = rng.partition(":")
        if not sep or not sep2:
            raise OptionError(f"--vary {item}: expected KEY=LO:HI, e.g. scintillator.thickness=1um:40um")
        t = tunable(key, option="--vary")
        lo = to_float(lo_text.strip(), t.unit or "", key=f"--vary {key}")
        hi = to_float(hi_text.strip(), t.unit or "", key=f"--vary {key}")
        if not lo <= hi:
            raise OptionError(f"--vary {item}: LO must not exceed HI")
        if key in out:
            raise OptionError(f"--vary {key}: given twice")
        out[key] = (lo, hi)
    return out


def _resolve_name(name: str) -> str:
    """A constraint's quantity: a tunable key (full or its unique last part) or a derived figure."""
    name = name.strip()
    if name in TUNABLE:
        return name
    matches = [k for k in TUNABLE if k.split(".")[1] == name]
    if len(matches) == 1:
        return matches[0]
    parse_objective(name)  # raises with the list of derived figures
    return name


def parse_constraints(items: list[str], scenario: Scenario, ranges: dict) -> tuple[dict, list]:
    """Split ``--constraint`` into tightened ranges (varied keys) and derived-figure constraints.

    A constraint on a fixed key is checked against the scenario at once.
    """
    ranges = dict(ranges)
    derived = []
    for item in items:
        m = _CONSTRAINT_RE.match(item)
        if not m:
            raise OptionError(f"--constraint {item}: expected NAME<=VALUE or NAME>=VALUE, e.g. exposure<=10s")
        name, op, value_text = _resolve_name(m.group(1)), m.group(2), m.group(3)
        if name in TUNABLE:
            t = TUNABLE[name]
            bound = to_float(value_text, t.unit or "", key=f"--constraint {item}")
            if name in ranges:
                lo, hi = ranges[name]
                lo, hi = (lo, min(hi, bound)) if op == "<=" else (max(lo, bound), hi)
                if lo > hi:
                    raise OptionError(f"--constraint {item}: excludes the whole --vary range of {name}")
                ranges[name] = (lo, hi)
            else:
                value = current_value(scenario, name, build_system(scenario))
                if (op == "<=" and value > bound) or (op == ">=" and value < bound):
                    raise OptionError(f"--constraint {item}: the scenario's fixed {name} = "
                                     f"{quantity_text(value, t.unit)} violates it; vary it or change the scenario")
        else:
            obj = parse_objective(name)
            bound = (parse_frequency(value_text, option=f"--constraint {item}") * 1000.0 if obj.unit == "lp/mm"
                     else to_float(value_text, obj.unit or "", key=f"--constraint {item}"))
            derived.append((obj, op, bound, item))
    return ranges, derived


class Design:
    """The scenario's system with ``ranges`` mapped onto the unit box."""

    def __init__(self, scenario: Scenario, ranges: dict):
        self.scenario = scenario
        self.system = build_system(scenario)
        self.ranges = ranges
        self.keys = [k for k, (lo, hi) in ranges.items() if hi > lo]
        self.fixed = {k: lo for k, (lo, hi) in ranges.items() if hi == lo}
        for k, (lo, hi) in ranges.items():
            t = TUNABLE[k]
            if lo < t.lower(scenario) or hi > t.upper(scenario) or (t.log and lo <= 0):
                raise OptionError(f"--vary {k}: {quantity_text(lo, t.unit)}:{quantity_text(hi, t.unit)} leaves "
                                 f"the physical range ({quantity_text(t.lower(scenario), t.unit)}, "
                                 f"{quantity_text(t.upper(scenario), t.unit)}]")
        self.log = {k: TUNABLE[k].log and ranges[k][1] / ranges[k][0] >= 10.0 for k in self.keys}
        self.psf_size = psf_size_for(self.system, ranges)
        self.height = scenario["object"]["height"]
        self.source = jnp.asarray([0.0, 0.0, scenario["geometry"]["source_distance"]], jnp.float32)

    def values(self, u) -> dict:
        out = dict(self.fixed)
        for i, k in enumerate(self.keys):
            lo, hi = self.ranges[k]
            out[k] = lo * (hi / lo) ** u[i] if self.log[k] else lo + u[i] * (hi - lo)
        return out

    def to_u(self, values: dict) -> np.ndarray:
        u = []
        for k in self.keys:
            lo, hi = self.ranges[k]
            v = min(max(values[k], lo), hi)
            u.append(math.log(v / lo) / math.log(hi / lo) if self.log[k] else (v - lo) / (hi - lo))
        return np.array(u)

    def view(self, u) -> View:
        return apply_values(View(self.system, self.source), self.values(u))

    def figure(self, objective: Objective, u):
        """The objective (lp/mm for MTF crossings, s for exposure) at ``u``."""
        view = self.view(u)
        s = view.system
        response = chain.view_response(s, view.source_um, object_plane_um=self.height, psf_size=self.psf_size)
        ob = self.scenario["object"]
        if objective.kind in ("mtf50", "mtf10"):
            return 1000.0 * mtf_crossing(s, response, 0.5 if objective.kind == "mtf50" else 0.1)
        if objective.kind == "dqe":
            return dqe(s, response, objective.argument)[0]
        if objective.kind == "snr":
            return line_pair_snr(s, response, width_um=objective.argument, material=ob["material"],
                                 thickness_um=ob["thickness"])
        return exposure_for_snr(s, response, width_um=objective.argument, material=ob["material"],
                                thickness_um=ob["thickness"],
                                target_snr=self.scenario["geometric"]["snr_target"])

    def mtf_at(self, u, freq_per_um):
        view = self.view(u)
        response = chain.view_response(view.system, view.source_um, object_plane_um=self.height,
                                       psf_size=self.psf_size)
        return presampled_mtf(view.system, response, freq_per_um)


@dataclass(frozen=True)
class Optimization:
    design: Design
    objective: Objective
    optimum: dict
    value: float
    evaluations: int
    path_u: np.ndarray
    path_values: np.ndarray
    grid_axes: list
    grid: np.ndarray
    grid_best: dict
    grid_best_value: float
    converged: bool
    verification: dict
    message: str


def optimize(scenario: Scenario, *, vary: dict, objective: str, constraints: list[str] = (),
             grid: int | None = None, verify: bool = True) -> Optimization:
    """Optimise ``objective`` over ``vary`` = ``{key: (lo, hi)}`` (see the module docstring)."""
    obj = parse_objective(objective)
    ranges, derived = parse_constraints(list(constraints), scenario, vary)
    design = Design(scenario, ranges)
    sign = -1.0 if obj.maximize else 1.0
    n = len(design.keys)
    value_fn = jax.jit(lambda u: design.figure(obj, u))
    if n == 0:
        u = np.zeros(0)
        value = float(value_fn(jnp.zeros(0)))
        path_u, path_v, evaluations, converged, message = np.zeros((1, 0)), np.array([value]), 1, True, "evaluated"
    else:
        vg = jax.jit(jax.value_and_grad(lambda u: sign * design.figure(obj, u)))
        cons = []
        for c_obj, op, bound, _ in derived:
            s = 1.0 if op == ">=" else -1.0
            cons.append(jax.jit(jax.value_and_grad(
                lambda u, c_obj=c_obj, s=s, bound=bound: s * (design.figure(c_obj, u) - bound) / abs(bound))))
        start = {k: current_value(scenario, k, design.system) for k in design.keys}
        res = minimize_bounded(vg, design.to_u(start), constraints=cons)
        u, value = res.u, sign * res.value
        path_u, path_v = res.path, sign * res.values
        evaluations, converged, message = res.evaluations, res.converged, res.message
    optimum = {k: float(v) for k, v in design.values(u).items()}
    grid_n = grid or (21 if n <= 1 else 11)
    axes = [np.linspace(0.0, 1.0, grid_n) for _ in design.keys]
    gvals = grid_values(value_fn, axes) if n else np.array(value)
    feasible = np.ones(gvals.shape, bool)
    if derived and n:
        for c_obj, op, bound, _ in derived:
            cv = grid_values(jax.jit(lambda u, c_obj=c_obj: design.figure(c_obj, u)), axes)
            feasible &= (cv <= bound) if op == "<=" else (cv >= bound)
    masked = np.where(feasible, gvals if obj.maximize else -gvals, -np.inf)
    best_idx = np.unravel_index(int(np.argmax(masked)), gvals.shape) if n else ()
    grid_best = {k: float(v) for k, v in design.values([axes[i][j] for i, j in enumerate(best_idx)]).items()}
    verification = _verify(design, obj, u) if verify else {}
    return Optimization(design=design, objective=obj, optimum=optimum, value=float(value), evaluations=evaluations,
                        path_u=path_u, path_values=path_v, grid_axes=axes, grid=gvals, grid_best=grid_best,
                        grid_best_value=float(gvals[best_idx]) if n else float(value), converged=converged,
                        verification=verification, message=message)


#: Side (pixels) of the verification edge image. The ISO 12233 analysis windows the LSF
#: with a Hamming window as wide as the ROI, which weighs down the LSF's tails: on the
#: optimize_screen scenario's 32 px ROI the measured MTF(500 lp/mm) read 6 % above the
#: chain's presampled MTF; on 128 px the window is flat over the PSF (a few pixels).
VERIFY_ROI_PX = 128


def _verify(design: Design, obj: Objective, u) -> dict:
    """Forward simulation of an opaque slanted edge at the optimum, measured per ISO 12233:
    its MTF at the objective's frequency against the chain's presampled MTF."""
    view = design.view(jnp.asarray(u, jnp.float32))
    # A wide ROI: the ISO Hamming window spans the ROI, and on the scenario's small ROI it
    # trims the LSF's defocus tails (measured: +6 % at 500 lp/mm on 32 px, see VERIFY_ROI_PX).
    system = chain.with_params(view.system, roi_shape=(VERIFY_ROI_PX, VERIFY_ROI_PX))
    rows, cols = system.field_shape
    pad = 8
    edge = edge_object(material="W", thickness_um=100.0, height_um=design.height, angle_deg=5.0, offset_um=0.0,
                       cell_um=system.cell_um, shape=(rows + 2 * pad, cols + 2 * pad))
    image = np.asarray(model_transmission(system, edge, view.source_um, psf_size=design.psf_size,
                                          object_plane_um=design.height))
    measured = measure_edge(image, pixel_size_um=system.pixel_um, strict=False)
    freq = obj.argument if obj.kind == "dqe" else (0.5 / obj.argument if obj.kind in ("snr", "exposure")
                                                  else None)
    out = {"mtf50_measured": measured.mtf50_lp_per_mm,
           "mtf50_chain": float(1000.0 * mtf_crossing(system, chain.view_response(
               system, view.source_um, object_plane_um=design.height, psf_size=design.psf_size), 0.5))}
    if freq is not None:
        f_px = freq * system.pixel_um
        out["frequency_lp_per_mm"] = freq * 1000.0
        out["mtf_measured"] = float(np.interp(f_px, measured.frequency_cyc_per_px, measured.mtf))
        out["mtf_chain"] = float(design.mtf_at(jnp.asarray(u, jnp.float32), freq)[0])
    return out


def to_json(opt: Optimization) -> dict:
    d = opt.design
    grid = {"points_per_key": [len(a) for a in opt.grid_axes], "evaluations": int(np.size(opt.grid)),
            "optimum": {k: {"value": v, "unit": TUNABLE[k].unit} for k, v in opt.grid_best.items()},
            "objective": opt.grid_best_value,
            # The objective at every grid point (nested per key; the axes run LO to HI, log-spaced
            # for a range of 10x or more), so the curve or map can be used without the report.
            "values": np.asarray(opt.grid, float).tolist()}
    return {"objective_name": opt.objective.text,
            "optimum": {k: {"value": v, "unit": TUNABLE[k].unit} for k, v in opt.optimum.items()},
            "objective": opt.value, "unit": opt.objective.unit, "evaluations": opt.evaluations,
            "converged": opt.converged, "varied": d.keys, "grid": grid, "verification": opt.verification}


def write_report(opt: Optimization, out: Path) -> Path:
    d, obj = opt.design, opt.objective
    rep = Report(f"Optimisation of {d.scenario.name}",
                 f"Which {', '.join(d.ranges)} {'maximise' if obj.maximize else 'minimise'} {obj.text}?")
    for k, (lo, hi) in d.ranges.items():
        rep.add_setup(k, f"{quantity_text(lo, TUNABLE[k].unit)} to {quantity_text(hi, TUNABLE[k].unit)}",
                      "--vary" + (" (log scale)" if d.log.get(k) else ""))
    rows = []
    for k in d.ranges:
        u = TUNABLE[k].unit
        rows.append([k, rep.result(("optimum", k), opt.optimum[k], u), rep.result(("grid", "optimum", k),
                                                                                  opt.grid_best[k], u)])
    rows.append([obj.text, rep.result("objective", opt.value, obj.unit),
                 rep.result(("grid", "objective"), opt.grid_best_value, obj.unit)])
    rows.append(["chain evaluations", rep.result("evaluations", opt.evaluations),
                 rep.result(("grid", "evaluations"), int(np.size(opt.grid)))])
    rep.add_table("Gradient optimum and grid", ["", "gradient (L-BFGS-B)", f"grid ({' x '.join(str(len(a)) for a in opt.grid_axes) or '1'})"],
                  rows, note="A gradient evaluation is one value-and-gradient pass through the chain "
                             "(reverse mode); a grid evaluation one forward pass.")
    if opt.verification:
        v = opt.verification
        vrows = [["MTF50 (lp/mm)", rep.result(("verification", "mtf50_chain"), v["mtf50_chain"], "lp/mm"),
                  rep.result(("verification", "mtf50_measured"), v["mtf50_measured"] if v["mtf50_measured"]
                             is not None else math.nan, "lp/mm")]]
        if "mtf_chain" in v:
            vrows.append([f"MTF at {v['frequency_lp_per_mm']:.4g} lp/mm",
                          rep.result(("verification", "mtf_chain"), v["mtf_chain"], digits=3),
                          rep.result(("verification", "mtf_measured"), v["mtf_measured"], digits=3)])
        rep.add_table("Verification by a forward simulation at the optimum", ["", "chain", "simulated edge, ISO 12233"],
                      vrows, note="A noiseless opaque W edge at 5 degrees simulated at the optimum and measured with "
                                  "physics.measure.edge.")
    _figure(opt, out)
    rep.add_figure("optimization.png", "Objective on the grid with the optimiser's path (dots, in order; "
                                       "star: optimum).")
    if not opt.converged:
        rep.add_conclusion(f"Warning: the optimiser stopped without converging ({opt.message}).")
    rep.add_conclusion(f"{obj.text} = {opt.value:.4g} {obj.unit} at "
                       + ", ".join(f"{k} = {quantity_text(v, TUNABLE[k].unit, digits=4)}"
                                   for k, v in opt.optimum.items())
                       + f" after {opt.evaluations} evaluations (grid: {opt.grid_best_value:.4g} after "
                         f"{int(np.size(opt.grid))}).")
    return rep.write(out)[0]


def _figure(opt: Optimization, out: Path) -> None:
    d = opt.design
    fig = new_figure(width=5.5, height=4.0)
    ax = fig.subplots()
    label = f"{opt.objective.text} ({opt.objective.unit})" if opt.objective.unit else opt.objective.text
    if len(d.keys) == 1:
        k = d.keys[0]
        xs = [d.values([u])[k] for u in opt.grid_axes[0]]
        ax.plot(xs, opt.grid, "-", color="0.5", label="grid")
        px = [d.values(u)[k] for u in opt.path_u]
        ax.plot(px, opt.path_values, "o", ms=4, label="L-BFGS-B path")
        for i, (x, y) in enumerate(zip(px, opt.path_values)):
            ax.annotate(str(i + 1), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.plot([opt.optimum[k]], [opt.value], "*", ms=12, color="C3", label="optimum")
        ax.set(xlabel=f"{k} ({TUNABLE[k].unit})" if TUNABLE[k].unit else k, ylabel=label,
               xscale="log" if d.log[k] else "linear")
        ax.legend(fontsize=7)
    elif len(d.keys) == 2:
        k0, k1 = d.keys
        x = [d.values([u, 0.0])[k0] for u in opt.grid_axes[0]]
        y = [d.values([0.0, u])[k1] for u in opt.grid_axes[1]]
        mesh = ax.pcolormesh(x, y, opt.grid.T, shading="nearest", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=label)
        px = [d.values(u)[k0] for u in opt.path_u]
        py = [d.values(u)[k1] for u in opt.path_u]
        ax.plot(px, py, "o-", color="w", ms=3, lw=0.8)
        ax.plot([opt.optimum[k0]], [opt.optimum[k1]], "*", ms=12, color="C3")
        ax.set(xlabel=k0, ylabel=k1, xscale="log" if d.log[k0] else "linear",
               yscale="log" if d.log[k1] else "linear")
    else:
        ax.plot(np.arange(1, len(opt.path_values) + 1), opt.path_values, "o-")
        ax.set(xlabel="evaluation", ylabel=label)
    save_figure(fig, out / "optimization.png")
