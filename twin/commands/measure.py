"""``twin measure {edge,noise,chart}``: image-quality measurements on TIFF images."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "measure", help="measure edge blur/MTF, noise, or line-pair chart resolution",
        description="Measure image quality: slanted-edge MTF and Gaussian blur (edge), "
                    "background noise (noise), line-and-space chart resolution (chart).")
    sub = parser.add_subparsers(dest="measure_kind", metavar="KIND")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("image", metavar="IMAGE.tif", help="2D image or 3D stack (TIFF)")
        p.add_argument("--slice", type=int, default=None, metavar="N",
                       help="plane of a 3D stack to measure (0-based)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--out", default=None, metavar="FILE.json",
                       help="also write the full result to this JSON file (atomically)")

    edge = sub.add_parser("edge", help="slanted-edge ESF/LSF/MTF (ISO 12233) and Gaussian sigma",
                          description="Slanted-edge measurement per ISO 12233 (4x oversampled "
                                      "ESF, LSF, MTF, MTF50/MTF10) and a Gaussian LSF fit.")
    common(edge)
    edge.add_argument("--pixel-size", default=None, metavar='"0.406 um"',
                      help="pixel size with unit (default: from the TIFF metadata)")
    edge.add_argument("--roi", default=None, metavar="x0,y0,x1,y1",
                      help="region with one edge (x = column; x1, y1 exclusive)")
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
    chart.add_argument("--pixel-size", default=None, metavar='"0.203 um"',
                       help="pixel size with unit (default: from the TIFF metadata)")
    chart.set_defaults(handler=run)


def run(args) -> int:
    from physics.imageio import read_tiff, write_json
    from physics.measure._common import parse_roi, select_slice
    from twin.console import emit

    tiff = read_tiff(args.image)
    image = select_slice(tiff.data, args.slice)
    pixel = _pixel_size(getattr(args, "pixel_size", None), tiff.pixel_size_um)
    kind = args.measure_kind
    if kind == "edge":
        from physics.measure.edge import measure_edge

        roi = parse_roi(args.roi) if args.roi else None
        result = measure_edge(image, pixel_size_um=pixel, roi=roi, strict=not args.force).to_json()
        title = "slanted edge (ISO 12233)"
        for message in result["quality"]["refusals"] + result["quality"]["flags"]:
            print(f"twin: warning: {args.image}: {message}", file=sys.stderr)
    elif kind == "noise":
        from physics.measure.noise import measure_noise

        result = measure_noise(image, parse_roi(args.roi)).to_json()
        title = "background noise"
    else:
        from physics.measure.chart import ChartLayout, measure_chart

        layout = ChartLayout.from_json(args.layout)
        groups = measure_chart(image, layout, pixel_size_um=pixel)
        result = {"groups": [g.to_json() for g in groups]}
        title = "line-pair chart"
    if args.out:
        write_json(args.out, result)
    if args.json:
        emit(result, as_json=True)
    elif kind == "chart":
        _print_chart(result["groups"])
    else:
        emit(result, as_json=False, title=title)
    return 0


def _pixel_size(text, from_file):
    if text is None:
        return from_file
    from physics.units import to_float

    return to_float(text, "um", key="--pixel-size", min_value=0.0, inclusive_min=False)


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
