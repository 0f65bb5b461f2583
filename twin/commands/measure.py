"""``twin measure {edge,noise,chart}``: image-quality measurements on TIFF, PNG or JPEG images."""

from __future__ import annotations

import argparse
import sys

from twin.budget import add_option as add_budget_option
from twin.options import nonnegative_int, quantity


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "measure", help="measure edge blur/MTF, noise, or line-pair chart resolution",
        description="Measure image quality: slanted-edge MTF and Gaussian blur (edge), "
                    "background noise (noise), line-and-space chart resolution (chart).")
    sub = parser.add_subparsers(dest="measure_kind", metavar="KIND")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("image", metavar="IMAGE", help="2D image or 3D stack (TIFF, PNG or JPEG; "
                                                       "colour is converted to grey)")
        p.add_argument("--slice", type=nonnegative_int, default=None, metavar="N",
                       help="plane of a 3D stack to measure (0-based)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--out", default=None, metavar="FILE.json",
                       help="also write the full result to this JSON file (atomically)")
        add_budget_option(p)

    edge = sub.add_parser("edge", help="slanted-edge ESF/LSF/MTF (ISO 12233) and Gaussian sigma",
                          description="Slanted-edge measurement per ISO 12233 (4x oversampled "
                                      "ESF, LSF, MTF, MTF50/MTF10) and a Gaussian LSF fit.")
    common(edge)
    edge.add_argument("--pixel-size", type=quantity("um"), default=None, metavar='"0.406 um"',
                      help="pixel size with unit (default: from the TIFF metadata; without "
                           "either, results are in pixels only)")
    edge.add_argument("--roi", default=None, metavar="x0,y0,x1,y1",
                      help="region with one edge (x = column; x1, y1 exclusive); only this "
                           "region of the image is read")
    edge.add_argument("--force", action="store_true",
                      help="return a result the quality checks refuse (poor ESF fit, small dynamic "
                           "range, clipped/photon-starved half), flagged, instead of an error")
    edge.set_defaults(handler=run)

    noise = sub.add_parser("noise", help="background noise by a Gaussian fit of the histogram",
                           description="Mean and sigma of a background ROI (histogram fit), "
                                       "plus the image's normalisation range.")
    common(noise)
    noise.add_argument("--roi", required=True, metavar="x0,y0,x1,y1",
                       help="background region (x = column; x1, y1 exclusive)")
    noise.set_defaults(handler=run)

    chart = sub.add_parser("chart", help="line-pair chart contrast and resolved groups",
                           description="Michelson contrast, peaks found vs expected and "
                                       "resolved yes/no per line-and-space group.")
    common(chart)
    chart.add_argument("--layout", required=True, metavar="CHART.json",
                       help="chart layout (written by twin simulate, or by hand)")
    chart.add_argument("--pixel-size", type=quantity("um"), default=None, metavar='"0.203 um"',
                       help="pixel size with unit (default: from the TIFF metadata; needed only "
                            "when the image grid differs from the layout's)")
    chart.set_defaults(handler=run)


def run(args) -> int:
    from physics.imageio import image_info, read_image, write_json
    from physics.measure._common import parse_roi
    from twin import budget, sizing
    from twin.console import check_finite, emit
    from twin.options import output_file

    kind = args.measure_kind
    if args.out:
        output_file(args.out)
    roi = parse_roi(args.roi) if getattr(args, "roi", None) else None
    info = image_info(args.image)
    plane = args.slice
    if plane is None and info.planes > 1:
        from physics.errors import OptionError

        raise OptionError(f"--slice: {args.image} is a stack of {info.planes} planes; choose one "
                          f"with --slice N (0..{info.planes - 1})")
    if plane is None and len(info.shape) == 3:
        plane = 0
    # The edge needs only its region; noise and chart normalise over the whole plane.
    region = roi if kind == "edge" else None
    budget.check(sizing.image_read(info, plane=plane, region=region, key="IMAGE"),
                 budget.from_args(args))
    image = read_image(args.image, plane=plane, region=region)
    given = getattr(args, "pixel_size", None)
    pixel = given if given is not None else image.pixel_size_um
    if kind == "edge":
        from physics.measure.edge import measure_edge

        result = measure_edge(image.data, pixel_size_um=pixel, strict=not args.force).to_json()
        title = "slanted edge (ISO 12233)"
        for message in result["quality"]["refusals"] + result["quality"]["flags"]:
            print(f"twin: warning: {args.image}: {message}", file=sys.stderr)
    elif kind == "noise":
        from physics.measure.noise import measure_noise

        result = measure_noise(image.data, roi).to_json()
        title = "background noise"
    else:
        from physics.measure.chart import ChartLayout, measure_chart

        layout = ChartLayout.from_json(args.layout)
        groups = measure_chart(image.data, layout, pixel_size_um=pixel)
        result = {"groups": [g.to_json() for g in groups]}
        title = "line-pair chart"
    check_finite(result, f"{args.image}: the measurement")
    if args.out:
        write_json(args.out, result)
    if args.json:
        emit(result, as_json=True)
    elif kind == "chart":
        _print_chart(result["groups"])
    else:
        emit(result, as_json=False, title=title)
    return 0


def _print_chart(groups) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="line-pair chart")
    for col in ("group", "line width (um)", "contrast", "peaks found/expected", "resolved"):
        table.add_column(col)
    for g in groups:
        table.add_row(g["name"], f"{g['line_width_um']:g}", f"{g['contrast']:.4f}",
                      f"{g['peaks_found']}/{g['peaks_expected']}",
                      "yes" if g["resolved"] else "no")
    Console().print(table)
