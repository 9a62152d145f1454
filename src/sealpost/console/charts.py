"""Server-side SVG charts for the console: stacked bars and lines, with axis labels, a legend
and a text alternative, and nothing a strict Content-Security-Policy blocks.

Accessibility: each chart is ``role="img"`` with an ``aria-label`` and a ``<title>`` (its
name) and ``<desc>`` (a one-line summary); every bar and point carries its own ``<title>``
(the exact count, shown as a tooltip). Pages put the numbers in a table next to the chart
for screen readers. Colours come from the Okabe-Ito palette, which stays distinct under the
common colour-vision deficiencies. Styling is done with presentation attributes (``fill=``,
``stroke=``, ``font-size=``), never ``style=`` nor ``<style>``, which ``style-src 'self'``
forbids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, vermillion,
# reddish purple, sky blue, yellow, black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# Lines differ by dash pattern too, so they stay apart without colour and where they overlap.
DASHES = ("", "7 3", "2 3", "9 3 2 3")

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 64  # the plot area's margins (legend below the axis)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[int]
    colour: str


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten not below ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def coloured(names: Sequence[str], values: Sequence[Sequence[int]]) -> list[Series]:
    """Series named ``names`` with the palette's colours in order."""
    pairs = enumerate(zip(names, values, strict=True))
    return [Series(n, v, PALETTE[i % len(PALETTE)]) for i, (n, v) in pairs]


def stacked_bars(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """One bar per label, the series stacked bottom-up in their order."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(2, nice_ceiling(max(totals, default=0)))  # whole-number middle tick
    slot = _plot_width() / max(len(labels), 1)
    parts = _frame(chart_id, title, _summary(series, totals), top, labels, slot, series)
    for i, label in enumerate(labels):
        base = 0
        for s in series:
            value = s.values[i]
            if value:
                y0, y1 = _y(base, top), _y(base + value, top)
                parts.append(
                    f'<rect x="{LEFT + i * slot + slot * 0.1:.1f}" y="{y1:.1f}"'
                    f' width="{slot * 0.8:.1f}" height="{y0 - y1:.1f}" fill="{s.colour}">'
                    f"<title>{escape(label)}: {escape(s.name)} {value}</title></rect>"
                )
            base += value
    parts.append("</svg>")
    return "".join(parts)


def lines(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """One line per series across the labels, with a marked point at each value."""
    top = max(2, nice_ceiling(max((v for s in series for v in s.values), default=0)))
    slot = _plot_width() / max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    parts = _frame(chart_id, title, _summary(series, totals), top, labels, slot, series)
    for n, s in enumerate(series):
        points = [(LEFT + (i + 0.5) * slot, _y(v, top)) for i, v in enumerate(s.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash = DASHES[n % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dashed}/>'
        )
        for (x, y), label, value in zip(points, labels, s.values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{s.colour}">'
                f"<title>{escape(label)}: {escape(s.name)} {value}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _plot_width() -> float:
    return WIDTH - LEFT - RIGHT


def _plot_height() -> float:
    return HEIGHT - TOP - BOTTOM


def _y(value: float, top: int) -> float:
    return TOP + _plot_height() * (1 - value / top)


def _summary(series: Sequence[Series], totals: Sequence[int]) -> str:
    sums = ", ".join(f"{s.name} {sum(s.values)}" for s in series)
    return f"Totals: {sums}." if sum(totals) else "No data in this period."


def _frame(
    chart_id: str,
    title: str,
    summary: str,
    top: int,
    labels: Sequence[str],
    slot: float,
    series: Sequence[Series],
) -> list[str]:
    """The SVG's opening, title, grid with y ticks, x labels and legend."""
    cid = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' class="chart" role="img" aria-label="{escape(title)}. {escape(summary)}"'
        f' aria-labelledby="{cid}-title {cid}-desc" id="{cid}">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(summary)}</desc>'
        '<g font-size="11" fill="currentColor">'
    ]
    for tick in (0, top / 2, top):
        y = _y(tick, top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#767676" stroke-width="0.5"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(tick)}</text>'
        )
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen x labels
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + (i + 0.5) * slot
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    x = float(LEFT)
    legend_y = HEIGHT - 18
    for s in series:
        parts.append(
            f'<rect x="{x:.1f}" y="{legend_y - 9}" width="10" height="10" fill="{s.colour}"/>'
            f'<text x="{x + 14:.1f}" y="{legend_y}">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    parts.append("</g>")
    return parts


def _tick(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"
