"""Server-side SVG charts: no JavaScript, no build step, readable on a laptop screen."""

from __future__ import annotations

from html import escape

_BAR = "#2563eb"
_MUTED = "#94a3b8"


def funnel_svg(stages: list[tuple[str, int]], *, width: int = 640) -> str:
    """Horizontal bars, one per stage, each with its count and share of the previous stage."""
    top = max((n for _, n in stages), default=0) or 1
    row, label_w, bar_w = 34, 90, width - 90 - 150
    parts = [
        f'<svg role="img" aria-label="Funnel" viewBox="0 0 {width} {row * len(stages) + 8}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui" font-size="14">'
    ]
    previous: int | None = None
    for i, (stage, n) in enumerate(stages):
        y = 4 + i * row
        w = max(2, round(bar_w * n / top))
        share = f"{100 * n / previous:.0f}% of previous" if previous else ""
        parts.append(
            f'<text x="0" y="{y + 20}">{escape(stage)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="22" rx="3" fill="{_BAR}"/>'
            f'<text x="{label_w + w + 8}" y="{y + 20}" data-stage="{escape(stage)}" '
            f'data-count="{n}">{n:,}</text>'
            f'<text x="{width - 4}" y="{y + 20}" text-anchor="end" fill="{_MUTED}">{share}</text>'
        )
        previous = n or None
    parts.append("</svg>")
    return "".join(parts)


def feed_svg(days: list[tuple[str, int, int]], *, width: int = 640, height: int = 160) -> str:
    """Daily fed counts (oldest left) against the day's cap, drawn as a dashed line."""
    if not days:
        return "<p class=muted>No feed has run yet.</p>"
    cap = max(c for _, _, c in days) or 1
    slot = width / max(len(days), 7)  # a lone first day is not one wide slab
    plot = height - 30
    parts = [
        f'<svg role="img" aria-label="Daily feed against the cap" width="100%" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui" '
        f'font-size="11">'
    ]
    for i, (day, fed, _) in enumerate(days):
        h = round(plot * fed / cap)
        x = i * slot + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{plot - h + 4}" width="{slot * 0.7:.1f}" height="{h}" '
            f'fill="{_BAR}"><title>{escape(day)}: {fed}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 6}" text-anchor="middle" '
            f'fill="{_MUTED}">{escape(day[5:])}</text>'
        )
    parts.append(
        f'<line x1="0" x2="{width}" y1="4" y2="4" stroke="#dc2626" stroke-dasharray="6 4"/>'
        f'<text x="{width - 4}" y="16" text-anchor="end" fill="#dc2626">cap {cap}</text></svg>'
    )
    return "".join(parts)
