"""Report writer: report.md and results.json agree, figures inline, nothing half-written."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from twin.report import (Quantity, Report, new_figure, parse_value, read_tables, save_figure,
                         verify_report)

WIDTHS = ("1.0", "2.0", "3.0")
CONTRAST = {"1.0": 0.0312345, "2.0": 0.41234567, "3.0": np.float32(0.7071)}


def build_report(out: Path) -> Report:
    """A report shaped like the published-system one, with awkward numbers on purpose."""
    rep = Report("Published system", "Which line-and-space groups does the twin resolve?",
                 results={"mtf": {"mtf50": Quantity(1234567.8, "lp/mm"), "mtf10": Quantity(float("nan"), "lp/mm")}})
    rep.add_setup("tube voltage", Quantity(50, "kV"), "paper")
    rep.add_setup("focal spot size", "40 um", "assumed: middle of the published 30-55 um")
    rep.add_setup("effective pixel", Quantity(6.5 / 16, "um", digits=6), "6.5 um / 16 (paper)")
    rows = []
    for w in WIDTHS:
        c = rep.result(("chart", "before", w, "contrast"), CONTRAST[w])
        ok = rep.result(("chart", "before", w, "resolved"), bool(CONTRAST[w] > 0.1))
        sigma = rep.result(("chart", "before", w, "sigma"), 0.000123456 * float(w), "um")
        rows.append([f"{w} um", c, ok, sigma, int(float(w) * 3)])
    rep.add_table("Chart before the network", ["line width", "contrast", "resolved", "sigma", "lines"], rows,
                  note="Resolved means contrast above 0.1 (Rayleigh-like criterion, assumed).")
    rep.add_table("System MTF", ["quantity", "value"],
                  [["MTF50", rep.results["mtf"]["mtf50"]], ["MTF10", rep.results["mtf"]["mtf10"]]])
    fig = new_figure(width=3, height=2)
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [CONTRAST[w] for w in WIDTHS], "o-")
    ax.set_xlabel("line width (um)")
    save_figure(fig, out / "figures" / "contrast.png")
    rep.add_figure("figures/contrast.png", "Contrast | per group before the network.")
    rep.add_text("Contrast is (max - min) / (max + min) over the group's lines.")
    rep.add_conclusion("2 and 3 um are resolved, 1 um is not, as published.")
    return rep


def test_report_and_results_hold_the_same_numbers(tmp_path):
    report_path, results_path = build_report(tmp_path).write(tmp_path)
    assert verify_report(tmp_path) == 3 * 4 + 2 + 2  # value cells: chart (not the width text), MTF, setup

    results = json.loads(results_path.read_text())
    tables = read_tables(report_path.read_text())
    chart = {row["line width"]: row for row in tables["Chart before the network"]}
    for w in WIDTHS:
        stored = results["chart"]["before"][w]
        shown = parse_value(chart[f"{w} um"]["contrast"])
        assert stored["contrast"] == pytest.approx(float(CONTRAST[w]), rel=1e-7)  # full precision
        assert shown.agrees(stored["contrast"])
        assert shown.tolerance < 1e-3 * abs(stored["contrast"])  # 4 significant digits shown
        assert parse_value(chart[f"{w} um"]["resolved"]).value is stored["resolved"]
        sigma = parse_value(chart[f"{w} um"]["sigma"])
        assert sigma.unit == stored["sigma"]["unit"] == "um"
        assert sigma.agrees(stored["sigma"]["value"])
    assert results["mtf"]["mtf10"] == {"value": None, "unit": "lp/mm"}
    assert {r["quantity"]: r["value"] for r in tables["System MTF"]}["MTF10"] == "n/a"
    assert parse_value(tables["Setup"][2]["value"]).value == pytest.approx(0.40625)


def test_report_reads_on_its_own(tmp_path):
    report_path, _ = build_report(tmp_path).write(tmp_path)
    text = report_path.read_text()
    assert text.startswith("# Published system\n")
    assert "**Question.** Which line-and-space groups" in text
    assert "![Figure 1](figures/contrast.png)\n\n*Figure 1.* Contrast | per group before the network." in text
    assert "- 2 and 3 um are resolved" in text
    assert "Resolved means contrast above 0.1" in text
    assert "| focal spot size | 40 um | assumed: middle of the published 30-55 um |" in text
    assert text.index("## Setup") < text.index("## Results") < text.index("## Conclusions")
    png = (tmp_path / "figures" / "contrast.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_tampered_report_is_caught(tmp_path):
    report_path, _ = build_report(tmp_path).write(tmp_path)
    text = report_path.read_text()
    shown = str(Quantity(0.41234567))
    report_path.write_text(text.replace(f"| {shown} |", "| 0.4124 |"))
    with pytest.raises(ValueError, match=r"'Chart before the network' row 1 column 'contrast'.*0\.4124"):
        verify_report(tmp_path)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e300, 1e300, allow_nan=False), st.integers(1, 10),
       st.sampled_from(["", "um", "keV", "lp/mm", "photons/pixel"]))
def test_shown_numbers_parse_back_within_their_rounding(value, digits, unit):
    shown = parse_value(str(Quantity(value, unit, digits)))
    assert shown.unit == unit
    assert shown.agrees(value)
    assert not shown.agrees(value + 3 * shown.tolerance + 1e-300)
    if value != 0:  # the step shown is the last of ``digits`` significant ones
        assert shown.tolerance <= 0.5 * 10.0 ** (1 - digits) * abs(shown.value) * (1 + 1e-9)


@pytest.mark.parametrize("value, text", [(True, "yes"), (False, "no"), (None, "n/a"), (math.inf, "n/a"),
                                         (np.int64(12), "12"), (2048, "2048"), (np.bool_(True), "yes")])
def test_special_values_format_and_parse(value, text):
    assert str(Quantity(value, "um")) == (text if text in ("yes", "no", "n/a") else f"{text} um")  # no unit on non-numbers
    parsed = parse_value(text)
    expected = {"yes": True, "no": False, "n/a": None}[text] if text in ("yes", "no", "n/a") else float(text)
    assert parsed.value is expected if not isinstance(expected, float) else parsed.value == expected


def test_failing_write_leaves_no_file(tmp_path):
    rep = build_report(tmp_path)
    rep.results["bad"] = object()
    with pytest.raises(ValueError, match=r"results\.bad: object cannot go into results\.json"):
        rep.write(tmp_path)
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "results.json").exists()

    del rep.results["bad"]
    rep.add_figure("figures/missing.png", "not drawn")
    with pytest.raises(ValueError, match=r"figure 'figures/missing\.png': no such file"):
        rep.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures"]


def test_failure_while_writing_keeps_previous_files_and_leaves_no_temporaries(tmp_path, monkeypatch):
    good = build_report(tmp_path)
    good.write(tmp_path)
    before = {name: (tmp_path / name).read_text() for name in ("report.md", "results.json")}

    changed = build_report(tmp_path)
    changed.add_conclusion("A new conclusion that must not appear.")
    real_write_text = Path.write_text

    def failing_write_text(self, text, *args, **kwargs):
        if self.name.startswith(".report.md"):
            real_write_text(self, text[:10])  # half-written, then the disk fills up
            raise OSError("No space left on device")
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="No space left"):
        changed.write(tmp_path)
    monkeypatch.undo()
    assert {name: (tmp_path / name).read_text() for name in before} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failing_figure_save_leaves_no_file(tmp_path, monkeypatch):
    fig = new_figure()
    fig.add_subplot().plot([0, 1])

    def broken_savefig(path, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        save_figure(fig, tmp_path / "figures" / "a.png")
    assert list((tmp_path / "figures").iterdir()) == []


def test_bad_input_is_named():
    rep = Report("t", "q")
    with pytest.raises(ValueError, match="relative to the report folder"):
        rep.add_figure("/tmp/a.png", "c")
    with pytest.raises(ValueError, match="relative to the report folder"):
        rep.add_figure("../a.png", "c")
    with pytest.raises(ValueError, match=r"table 'T' row 0: a cell must be .* got \[1\]"):
        rep.add_table("T", ["a"], [[[1]]])
    with pytest.raises(ValueError, match=r"table 'T' row 0: 2 cells for 1 columns"):
        rep.add_table("T", ["a"], [[1, 2]])
    rep.add_table("T", ["a"], [[1]])
    with pytest.raises(ValueError, match="exists already"):
        rep.add_table("T", ["a"], [[2]])
    with pytest.raises(ValueError, match="'report' is reserved"):
        rep.result("report.x", 1.0)
    rep.result("a.b", 1.0)
    with pytest.raises(ValueError, match="'b' already holds a value"):
        rep.result("a.b.c", 1.0)
    with pytest.raises(ValueError, match="report title"):
        Report("", "q")
    with pytest.raises(ValueError, match="Quantity value"):
        Quantity("1 um")
    with pytest.raises(ValueError, match="must end in one of .png"):
        save_figure(new_figure(), "a.jpg")


@settings(max_examples=40, deadline=None)
@given(a=st.floats(-1e6, 1e6), b=st.floats(-1e6, 1e6), op=st.sampled_from(["<", "<=", ">", ">="]))
def test_a_finding_verdict_is_its_test_on_its_numbers(a, b, op):
    from twin.report import Finding

    f = Finding("a = {a:.3g}, b = {b:.3g}", {"a": a, "b": b}, ("a", op, "b"))
    assert f.verdict == {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    assert f.text().startswith(f"a = {a:.3g}, b = {b:.3g} [")
    assert Finding.from_json(json.loads(json.dumps(f.to_json()))).verdict == f.verdict
    # a constant on the right works alike; a missing number leaves it undecided
    assert Finding("{a}", {"a": a}, ("a", op, b)).verdict == f.verdict
    assert Finding("{a}", {"a": None}, ("a", op, b)).verdict is None


def test_findings_are_listed_stored_and_rechecked(tmp_path):
    from twin.report import Finding

    rep = Report("t", "q")
    rep.add_table("x", ["a"], [[1]])
    rep.add_finding("drop {drop:.0%}", {"drop": Quantity(0.02), "limit": np.float64(0.1)}, ("drop", "<", "limit"))
    rep.add_finding("gain {g:.1f}", {"g": 3.0}, ("g", "<", 1.0))
    rep.write(tmp_path)
    content = json.loads((tmp_path / "results.json").read_text())["report"]
    assert [f["verdict"] for f in content["findings"]] == [True, False]
    assert content["conclusions"][1] == "gain 3.0 [does not hold: g < 1.0]"
    assert "drop 2% [holds: drop < limit]" in (tmp_path / "report.md").read_text()
    assert verify_report(tmp_path) >= 3
    content["findings"][1]["verdict"] = True  # a verdict written by hand is caught
    data = json.loads((tmp_path / "results.json").read_text())
    data["report"] = content
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="gain"):
        verify_report(tmp_path)
    with pytest.raises(ValueError, match="not among its numbers"):
        Finding("x", {"a": 1.0}, ("a", "<", "b"))
    with pytest.raises(ValueError, match="op"):
        Finding("x", {"a": 1.0}, ("a", "==", 1.0))
    with pytest.raises(KeyError):
        Finding("{missing}", {"a": 1.0}, ("a", "<", 2.0))
