"""``twin calibrate SCENARIO.toml --edge FRAME.tif --fit KEY[,KEY...] --out DIR``."""

from __future__ import annotations

import argparse

from physics.errors import InputFileError, OptionError
from twin.budget import add_option as add_budget_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit scenario parameters to measured edge / noise images",
        description="Fit continuous scenario parameters (e.g. scintillator.thickness, "
                    "scintillator.scatter_blur, scintillator.focus_depth, source.focal_spot_size, optics.na; "
                    "for a [detector] type = \"flat_panel\" detector.blur, detector.glare_fraction, "
                    "detector.glare_length, detector.response_gamma, detector.response_offset; "
                    "camera.gain, camera.read_noise from --noise frames) to a measured slanted edge by "
                    "gradient through the chain, starting from the scenario's values. The edge position and "
                    "angle and an affine grey-level map are fitted as nuisance parameters. Writes "
                    "DIR/calibrated.toml (fitted values with standard uncertainties) and DIR/report.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("scenario", help="scenario TOML file; [object] describes the edge (phantom = \"edge\")")
    p.add_argument("--edge", help="edge image: a raw frame (with --flat/--dark) or a transmission image; "
                                  "a stack (e.g. twin simulate's raw.tif) uses its middle view")
    p.add_argument("--flat", help="open-beam frame(s) for a raw --edge")
    p.add_argument("--dark", help="dark frame(s) for a raw --edge")
    p.add_argument("--noise", help="raw open-beam frame(s) of uniform illumination (camera.gain)")
    p.add_argument("--noise-dark", help="raw dark frame(s) (camera.read_noise)")
    p.add_argument("--roi", help="analyse only x0,y0,x1,y1 of the edge image (pixels, x along columns)")
    p.add_argument("--saturation", type=float, metavar="LEVEL",
                   help="grey level of --edge at and above which pixels are saturated (clipped by the sensor "
                        "or its readout): the fit clips its model there too")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override a scenario value (e.g. a starting value), TOML syntax as in twin simulate")
    p.add_argument("--fit", required=True, help="comma-separated scenario keys to fit")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_budget_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from physics.measure._common import crop, parse_roi
    from twin.calibrate import calibrate, read_frame, to_json, write_calibrated, write_report
    from twin import budget, sizing
    from twin.console import emit
    from twin.options import output_dir

    from twin.commands.simulate import load_with_overrides

    scenario = load_with_overrides(args.scenario, args.set)
    keys = [k.strip() for k in args.fit.split(",") if k.strip()]
    output_dir(args.out)
    # The fit holds the model view and one forward-mode Jacobian column per fitted key.
    budget.check(sizing.derivative_copies(scenario.values, what="the calibration fit", copies=len(keys),
                                          key="--fit"), budget.from_args(args))
    edge = flat = dark = noise = noise_dark = None
    edge_pixel = None
    sources = []
    if args.edge:
        edge, edge_pixel = read_frame(args.edge, option="--edge")
        sources.append(Path(args.edge).name)
        if args.flat or args.dark:
            flat, _ = read_frame(args.flat, option="--flat") if args.flat else (None, None)
            dark, _ = read_frame(args.dark, option="--dark") if args.dark else (None, None)
            sources += [Path(p).name for p in (args.flat, args.dark) if p]
        if args.roi:
            roi = parse_roi(args.roi)
            edge, flat, dark = (None if a is None else crop(a, roi, name="--roi") for a in (edge, flat, dark))
    elif args.flat or args.dark or args.roi or args.saturation is not None:
        raise OptionError("--flat/--dark/--roi/--saturation: only with --edge")
    if args.noise:
        noise = _frames(args.noise, "--noise")
        sources.append(Path(args.noise).name)
    if args.noise_dark:
        noise_dark = _frames(args.noise_dark, "--noise-dark")
        sources.append(Path(args.noise_dark).name)
    cal = calibrate(scenario, keys=keys, edge=edge, flat=flat, dark=dark, noise=noise, noise_dark=noise_dark,
                    edge_pixel_um=edge_pixel, saturation=args.saturation)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = ", ".join(sources)
    write_calibrated(scenario, cal, out / "calibrated.toml", sources=text)
    write_report(scenario, cal, out, sources=text)
    emit(to_json(cal), as_json=args.json, title=f"calibrated {scenario.name} -> {out}")
    return 0


def _frames(path, option):
    import numpy as np

    from physics.imageio import read_tiff

    data = np.asarray(read_tiff(path).data, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise InputFileError(f"{path}: {option} must be a frame or a stack of frames, got shape {data.shape}")
    return data
