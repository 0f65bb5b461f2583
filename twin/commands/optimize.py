"""``twin optimize SCENARIO.toml --vary KEY=LO:HI --objective OBJ --out DIR``."""

from __future__ import annotations

import argparse

from physics.errors import OptionError
from twin.budget import add_option as add_budget_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "optimize",
        help="optimise continuous scenario keys for an objective by gradient",
        description="Optimise mtf50, mtf10, dqe@F (e.g. dqe@500lp/mm), snr@W or exposure@W (e.g. snr@1um; "
                    "exposure for the scenario's geometric.snr_target) over --vary ranges by bounded "
                    "L-BFGS-B on gradients through the chain (SLSQP with --constraint on derived figures). "
                    "LO equal to HI evaluates that point. The optimum is verified by a forward simulation "
                    "of an edge and compared with a grid over the same ranges in DIR/report.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("scenario", help="scenario TOML file")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=LO:HI",
                   help="a continuous key and its range, e.g. scintillator.thickness=1um:40um (repeatable)")
    p.add_argument("--objective", required=True, help="mtf50 | mtf10 | dqe@F | snr@W | exposure@W")
    p.add_argument("--constraint", action="append", default=[], metavar="EXPR",
                   help="NAME<=VALUE or NAME>=VALUE on a key (e.g. source_distance>=20mm) or a derived "
                        "figure (e.g. exposure@1um<=10s, mtf50>=300lp/mm) (repeatable)")
    p.add_argument("--grid", type=int, default=None,
                   help="grid points per varied key for the comparison (default 21 for one key, 11 for more)")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override a scenario value, TOML syntax as in twin simulate")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from twin.commands.simulate import load_with_overrides
    from twin import budget, sizing
    from twin.console import emit
    from twin.options import output_dir
    from twin.optimize import optimize, parse_vary, to_json, write_report

    scenario = load_with_overrides(args.scenario, args.set)
    if args.grid is not None and args.grid < 2:
        raise OptionError(f"--grid: {args.grid} must be >= 2")
    output_dir(args.out)
    # A reverse-mode gradient keeps the forward pass's intermediates: about one more simulation.
    budget.check(sizing.derivative_copies(scenario.values, what="the optimisation", copies=1, key="--vary"),
                 budget.from_args(args))
    opt = optimize(scenario, vary=parse_vary(args.vary), objective=args.objective,
                   constraints=args.constraint, grid=args.grid)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(opt, out)
    emit(to_json(opt), as_json=args.json, title=f"optimised {scenario.name} -> {out}")
    return 0
