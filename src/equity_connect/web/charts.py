"""Chart geometry for the server-drawn SVG charts (templates/charts.html draws them).

Python computes where each bar goes; the template writes the SVG, so no
markup is assembled here. No JavaScript, no build step.
"""

from __future__ import annotations

from dataclasses import dataclass

FUNNEL_ROW = 34
FUNNEL_LABEL_W = 90


@dataclass(frozen=True)
class FunnelBar:
    """One stage of the funnel chart."""

    stage: str
    count: int
    y: int
    width: int
    share: str  # "42% of previous", or "" for the first stage / after an empty one


@dataclass(frozen=True)
class FunnelChart:
    """Horizontal bars, one per stage, each with its count and share of the previous stage."""

    width: int
    height: int
    label_w: int
    bars: list[FunnelBar]


def funnel_chart(stages: list[tuple[str, int]], *, width: int = 640) -> FunnelChart:
    """The funnel chart's geometry for ``stages`` (name, count) in funnel order."""
    top = max((n for _, n in stages), default=0) or 1
    bar_w = width - FUNNEL_LABEL_W - 150
    bars: list[FunnelBar] = []
    previous: int | None = None
    for i, (stage, n) in enumerate(stages):
        share = f"{100 * n / previous:.0f}% of previous" if previous else ""
        bars.append(FunnelBar(stage, n, 4 + i * FUNNEL_ROW, max(2, round(bar_w * n / top)), share))
        previous = n or None
    return FunnelChart(width, FUNNEL_ROW * len(stages) + 8, FUNNEL_LABEL_W, bars)


@dataclass(frozen=True)
class FeedBar:
    """One business day of the feed chart."""

    day: str  # ISO date
    fed: int
    x: float
    y: int
    width: float
    height: int
    mid: float


@dataclass(frozen=True)
class FeedChart:
    """Daily fed counts (oldest left) against the cap, drawn as a dashed line."""

    width: int
    height: int
    cap: int
    bars: list[FeedBar]


def feed_chart(
    days: list[tuple[str, int, int]], *, width: int = 640, height: int = 160
) -> FeedChart:
    """The feed chart's geometry for ``days`` (ISO date, fed, cap), oldest first."""
    cap = max((c for _, _, c in days), default=0) or 1
    slot = width / max(len(days), 7)  # a lone first day is not one wide slab
    plot = height - 30
    bars = []
    for i, (day, fed, _) in enumerate(days):
        h = round(plot * fed / cap)
        x = i * slot + slot * 0.15
        bars.append(
            FeedBar(
                day,
                fed,
                round(x, 1),
                plot - h + 4,
                round(slot * 0.7, 1),
                h,
                round(x + slot * 0.35, 1),
            )
        )
    return FeedChart(width, height, cap, bars)
