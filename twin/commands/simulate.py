"""``twin simulate SCENARIO.toml --out DIR``: simulate the views of a scenario."""

from __future__ import annotations



def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate the projections of a scenario",
        description="Simulate every view of a scenario (tube -> object -> scintillator -> "
                    "microscope -> sCMOS) and write projections.tif, raw/flat/dark frames, "
                    "geometry.json, phantom.tif, chart.json and parameters.json to DIR. "
                    "An interrupted run resumes from the views already done.",
    )
    p.add_argument("scenario", help="scenario TOML file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override a scenario value, e.g. --set 'source.focal_spot_size=\"30 um\"' "
                        "(TOML syntax for the value)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    from twin.budget import add_option

    add_option(p)
    p.set_defaults(handler=run)


def load_with_overrides(path, items: list[str], *, keep_sweep: bool = False, extra: dict | None = None):
    """The scenario at ``path`` with the command line's ``--set`` items (and ``extra``
    ``{"table.key": value}`` overrides) applied and validated."""
    from twin.scenario import load_scenario

    scenario = load_scenario(path)
    overrides = {**parse_overrides(items), **(extra or {})}
    return scenario.with_values(overrides, keep_sweep=keep_sweep) if overrides else scenario


def parse_overrides(items: list[str]) -> dict:
    """``["source.kvp=\\"40 kV\\"", ...]`` -> ``{"source.kvp": "40 kV"}`` (values in TOML syntax)."""
    import tomllib

    from physics.errors import OptionError

    out = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise OptionError(f"--set {item!r}: expected TABLE.KEY=VALUE")
        try:
            out[path.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[path.strip()] = value.strip()  # a bare string such as 40 kV
    return out


def run(args) -> int:
    from twin import budget, sizing
    from twin.console import emit
    from twin.options import output_dir
    from twin.simulate import simulate_scenario

    scenario = load_with_overrides(args.scenario, args.set)
    output_dir(args.out)
    budget.check(sizing.simulation(scenario.values), budget.from_args(args))
    summary = simulate_scenario(scenario, args.out, show_progress=not args.no_progress)
    emit(summary, as_json=args.json, title=f"simulated {scenario.name} -> {args.out}")
    return 0
