"""Studies that ``twin run`` can answer; one module per ``[scenario] study`` value.

Each module provides ``compute_point(raw, point, *, quick, work_dir) -> dict`` and
``make_report(scenario, points, results, out_dir, *, quick) -> twin.report.Report``
(see :mod:`twin.run`).
"""
