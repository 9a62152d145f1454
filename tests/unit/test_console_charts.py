"""Server-side SVG charts: well-formed, accessible, CSP-safe, and drawing the values given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sealpost.console.charts import PALETTE, coloured, lines, nice_ceiling, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ceiling_rounds_up_to_1_2_5():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 180, 501)] == [
        1, 1, 5, 10, 10, 20, 200, 1000
    ]  # fmt: skip


def test_stacked_bars_stack_each_series_and_label_everything():
    series = coloured(["verified", "plaintext"], [[3, 0], [1, 2]])
    svg = stacked_bars("tls", "TLS <coverage>", ["Dec 01", "Dec 02"], series)
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label").startswith("TLS <coverage>. Totals: verified 3, plaintext 3")
    assert root.find(f"{SVG}title").text == "TLS <coverage>"
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    tips = [r.find(f"{SVG}title").text for r in bars]
    assert tips == ["Dec 01: verified 3", "Dec 01: plaintext 1", "Dec 02: plaintext 2"]
    # the first day's bars stack: plaintext sits on top of verified, and 4 of 5 is the height
    verified, plaintext = bars[0], bars[1]
    assert float(plaintext.get("y")) + float(plaintext.get("height")) == float(verified.get("y"))
    assert verified.get("fill") == PALETTE[0] and plaintext.get("fill") == PALETTE[1]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Dec 01", "Dec 02", "verified", "plaintext", "0", "5"} <= set(texts)


def test_lines_draw_a_point_per_value_and_no_style_attributes():
    svg = lines("vol", "Volume", ["a", "b", "c"], coloured(["delivered"], [[0, 5, 2]]))
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert root.find(f"{SVG}polyline") is not None
    assert "style" not in svg and "<script" not in svg


def test_empty_chart_says_so():
    svg = lines("none", "Nothing", ["a"], coloured(["x"], [[0]]))
    assert "No data in this period." in svg
