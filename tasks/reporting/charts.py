"""Small SVG charts drawn on the server (pure): a page or a report carries its charts inline, so it works offline,
with no script, no CDN, no image files beside it."""

from __future__ import annotations

import math
from html import escape

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"]
REFERENCE, CURRENT = "#94a3b8", "#2563eb"


def measurable(value) -> bool:
    """A number a chart can place: not missing, not NaN, not infinite (a stored NaN is "not measurable", never a
    broken page)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _finite(values: list) -> list[float]:
    return [float(v) if measurable(v) else 0.0 for v in values]


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values inside [low, high]: steps of 1, 2 or 5 times a power of ten, about ``count`` of them."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def line_chart(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str, width: int = 640,
               height: int = 260, x_names: dict[float, str] | None = None, styles: dict[str, str] | None = None,
               lines: dict[str, float] | None = None) -> str:
    """One polyline with points per series (e.g. a model version's accuracy per batch), with axes and a legend.
    A series' style is "solid" (the default), "dashed", "markers" (hollow points, no line) or "marked" (filled
    red points, no line: e.g. the significant ones). ``lines`` are labelled horizontal reference lines (a
    threshold, the value at registration)."""
    series = {name: [(x, y) for x, y in values if measurable(x) and measurable(y)] for name, values in series.items()}
    lines = {name: y for name, y in (lines or {}).items() if measurable(y)}
    points = [point for values in series.values() for point in values]
    if not points:
        return f'<p class="muted">No {escape(y_label)} measured yet.</p>'
    left, right, bottom = 56, 16, 40
    legend, legend_x, legend_y = {}, left + 8, 12  # each series' place in the legend, wrapped to the width
    for name in series:
        if legend_x + 24 + 7 * len(name) > width - right and legend_x > left + 8:
            legend_x, legend_y = left + 8, legend_y + 14
        legend[name] = (legend_x, legend_y)
        legend_x += 24 + 7 * len(name)
    top = legend_y + 2
    xs, ys = [p[0] for p in points], [p[1] for p in points] + list((lines or {}).values())
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    pad = (y_high - y_low) * 0.1 or abs(y_high) * 0.05 or 0.05
    y_low, y_high = y_low - pad, y_high + pad
    span_x = (x_high - x_low) or 1.0

    def sx(x: float) -> float:
        return left + (x - x_low) / span_x * (width - left - right) if x_high > x_low else (left + width - right) / 2

    def sy(y: float) -> float:
        return top + (y_high - y) / (y_high - y_low) * (height - top - bottom)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(y_label)} by {escape(x_label)}">']
    for tick in _ticks(y_low, y_high):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    for x in sorted(set(xs)):
        label = (x_names or {}).get(x, _fmt(x))
        parts.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle" class="axis">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text x="12" y="{(top + height - bottom) / 2}" text-anchor="middle" class="axis" '
                 f'transform="rotate(-90 12 {(top + height - bottom) / 2})">{escape(y_label)}</text>')
    for name, y in (lines or {}).items():
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#64748b" '
                     f'stroke-dasharray="2 3"/><text x="{width - right - 4}" y="{sy(y) - 4:.1f}" text-anchor="end" '
                     f'class="axis">{escape(name)}</text>')
    for i, (name, values) in enumerate(series.items()):
        style = (styles or {}).get(name, "solid")
        color = "#dc2626" if style == "marked" else PALETTE[i % len(PALETTE)]
        kept = sorted((x, y) for x, y in values if y is not None)
        if len(kept) > 1 and style not in ("markers", "marked"):
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in kept)
            dash = ' stroke-dasharray="6 4"' if style == "dashed" else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        fill = 'fill="white" stroke-width="2" stroke' if style == "markers" else "fill"
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" {fill}="{color}"><title>{escape(name)}: '
                  f'{_fmt(y)}</title></circle>' for x, y in kept]
        at_x, at_y = legend[name]
        parts.append(f'<rect x="{at_x}" y="{at_y - 10}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{at_x + 14}" y="{at_y - 1}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(edges: list[float], reference: list[float], current: list[float], width: int = 300,
                    height: int = 150) -> str:
    """Reference and current densities over the same bins, overlaid, with a y axis (density: a bar's area is its
    share of the rows) at round ticks and the bins' values at the ends and the middle."""
    top, bottom, left, right = 8, 22, 40, 6
    reference, current = _finite(reference), _finite(current)
    if not edges or not all(measurable(edge) for edge in edges):
        return '<p class="muted">not measurable: the bins have no finite edges</p>'
    peak = max([*reference, *current, 1e-12])
    bins = len(reference)
    bar = (width - left - right) / max(bins, 1)
    parts = [f'<svg class="chart small" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="reference and current density">']
    for tick in _ticks(0.0, peak, 3):
        y = height - bottom - tick / peak * (height - top - bottom)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    parts.append(f'<text x="10" y="{(top + height - bottom) / 2}" text-anchor="middle" class="axis" '
                 f'transform="rotate(-90 10 {(top + height - bottom) / 2})">density</text>')
    for values, color, opacity in ((reference, REFERENCE, 0.8), (current, CURRENT, 0.45)):
        for i, value in enumerate(values):
            h = value / peak * (height - top - bottom)
            parts.append(f'<rect x="{left + i * bar:.1f}" y="{height - bottom - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="{opacity}"/>')
    middle = edges[len(edges) // 2]
    parts.append(f'<text x="{left}" y="{height - 6}">{_fmt(edges[0])}</text>'
                 f'<text x="{(left + width - right) / 2:.1f}" y="{height - 6}" text-anchor="middle">{_fmt(middle)}'
                 f'</text><text x="{width - right}" y="{height - 6}" text-anchor="end">{_fmt(edges[-1])}</text></svg>')
    return "".join(parts)


def share_chart(categories: list[str], reference: list[float], current: list[float], width: int = 300) -> str:
    """Each category's share, reference beside current, as horizontal bars."""
    row, label_width = 18, 110
    reference, current = _finite(reference), _finite(current)
    height = row * len(categories) + 8
    parts = [f'<svg class="chart small" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    scale = (width - label_width - 40) / max([*reference, *current, 1e-12])
    for i, (name, ref, cur) in enumerate(zip(categories, reference, current, strict=True)):
        y = 4 + i * row
        parts.append(f'<text x="{label_width - 4}" y="{y + 12}" text-anchor="end">{escape(str(name))[:16]}</text>'
                     f'<rect x="{label_width}" y="{y + 1}" width="{ref * scale:.1f}" height="7" fill="{REFERENCE}"/>'
                     f'<rect x="{label_width}" y="{y + 8}" width="{cur * scale:.1f}" height="7" fill="{CURRENT}"/>'
                     f'<text x="{label_width + max(ref, cur) * scale + 4:.1f}" y="{y + 12}">{cur:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(difference: float, low: float, high: float, margin: float, width: int = 420, height: int = 70,
                   label: str = "B - A") -> str:
    """An estimate with its interval on a line through zero and the margin: where B stands against A, and how
    sure that is (an interval clear of zero and past the margin is a win that promotes)."""
    points = [difference, low, high, 0.0, margin, -margin]
    if not all(measurable(p) for p in points):
        return '<p class="muted">not measurable yet (no labelled units in an arm)</p>'
    span = max(abs(p) for p in points) * 1.15 or 0.05
    left, right = 16, 16

    def sx(x: float) -> float:
        return left + (x + span) / (2 * span) * (width - left - right)

    mid = height / 2
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(label)} with its interval">',
             f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="8" y2="{height - 18}" stroke="#64748b"/>',
             f'<line x1="{sx(margin):.1f}" x2="{sx(margin):.1f}" y1="8" y2="{height - 18}" stroke="#16a34a" '
             f'stroke-dasharray="3 3"/><text x="{sx(margin) + 3:.1f}" y="16" class="axis">margin {margin:g}</text>',
             f'<line x1="{sx(low):.1f}" x2="{sx(high):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" stroke="#2563eb" '
             f'stroke-width="4"/><circle cx="{sx(difference):.1f}" cy="{mid:.1f}" r="5" fill="#2563eb">'
             f'<title>{escape(label)} {difference:+.4f} [{low:+.4f}, {high:+.4f}]</title></circle>']
    for tick in _ticks(-span, span, 4):
        parts.append(f'<text x="{sx(tick):.1f}" y="{height - 4}" text-anchor="middle">{_fmt(tick)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def progress_bar(done: int, total: int, width: int = 420, height: int = 22) -> str:
    """How far a test is toward its planned size."""
    share = min(done / total, 1.0) if total else 0.0
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="progress to the horizon"><rect x="1" y="1" width="{width - 2}" height="{height - 2}" '
            f'fill="#f1f5f9"/><rect x="1" y="1" width="{(width - 2) * share:.1f}" height="{height - 2}" '
            f'fill="{"#16a34a" if share >= 1 else "#2563eb"}"/><text x="{width / 2}" y="{height - 6}" '
            f'text-anchor="middle">{done:,} of {total:,} ({share:.0%})</text></svg>')
