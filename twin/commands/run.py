"""``twin run [SCENARIO.toml] --out DIR``: answer a scenario's question with a report."""

from __future__ import annotations

from twin.options import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a scenario (or sweep) and write report.md + results.json",
        description="Run a scenario end to end and write DIR/report.md, DIR/results.json, "
                    "figures (PNG) and images (TIFF). With no SCENARIO, runs the shipped "
                    "default (scenarios/published_system.toml). Sweeps run in parallel, "
                    "cache finished points and resume after an interruption.",
    )
    p.add_argument("scenario", nargs="?", default=None, help="scenario TOML (default: the published system)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<scenario name>, the name reduced to letters, "
                        "digits, '.', '-' and '_')")
    p.add_argument("--quick", action="store_true",
                   help="reduced sizes for a fast check (each study documents what it reduces)")
    p.add_argument("--executor", default=None,
                   help="sweep back end: local (processes), serial, dask (LocalCluster), dask://HOST:PORT")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override a scenario value (TOML syntax for the value)")
    p.add_argument("--seeds", type=positive_int, default=None, metavar="N",
                   help="noise draws to repeat, quick or not (acquisition.seeds; default: the "
                        "scenario's, 3 for the published system, 2 with --quick)")
    p.add_argument("--json", action="store_true", help="print results.json")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    from twin.budget import add_option

    add_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    import json
    from pathlib import Path

    from twin import budget
    from twin.commands.simulate import load_with_overrides
    from twin.options import output_dir
    from twin.run import DEFAULT_SCENARIO, estimate_run, run_scenario
    from twin.scenario import safe_name

    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    pinned = {"acquisition.seeds": args.seeds} if args.seeds is not None else {}
    scenario = load_with_overrides(path, args.set, keep_sweep=True, extra=pinned)
    out = output_dir(args.out if args.out else Path("runs") / safe_name(scenario.name))
    budget.check(estimate_run(scenario, executor=args.executor), budget.from_args(args))
    results = run_scenario(scenario, out, quick=args.quick, executor=args.executor,
                           show_progress=not args.no_progress, pinned=pinned)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"report: {out / 'report.md'}\nresults: {out / 'results.json'}")
    return 0
