"""The chart attached to an exit alert: a PNG a phone shows inline.

The last hours' price (hourly closes from the metrics files), the grid's bounds, the regime of
each hour as a coloured band (the dashboard's colours) and the hour the state changed. Drawn
with matplotlib's Agg renderer on a bare ``Figure`` (no pyplot, no display, no global state)
and its bundled DejaVu Sans font.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_PX = 900
HEIGHT_PX = 600
DPI = 100
# The dashboard's regime colours (dashboard/template.html), a little stronger on a small screen.
REGIME_COLOURS = {
    "RANGE_OK": (46 / 255, 160 / 255, 67 / 255),
    "RANGE_WEAK": (191 / 255, 135 / 255, 0.0),
    "TRANSITION": (219 / 255, 109 / 255, 40 / 255),
    "TREND": (207 / 255, 34 / 255, 46 / 255),
}
BAND_ALPHA = 0.22
STATE_COLOURS = {
    "NORMAL": "#1a7f37",
    "WARNING": "#bf8700",
    "LATEST_ACCEPTABLE_EXIT": "#db6d28",
    "MANDATORY_EXIT": "#cf222e",
}


@dataclass(frozen=True)
class ChartHour:
    """One hour on the chart: its close and its regime verdict (None: analysis refused)."""

    hour: datetime
    price: float
    verdict: str | None


def exit_chart(
    hours: Sequence[ChartHour],
    *,
    lower: float,
    upper: float,
    state: str,
    changed_at: datetime | None,
    title: str,
) -> bytes:
    """The PNG (``WIDTH_PX`` x ``HEIGHT_PX``) of ``hours`` with the grid and the state change."""
    from matplotlib.figure import Figure

    if not hours:
        raise ValueError("no hours to chart")
    hours = sorted(hours, key=lambda h: h.hour)
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    axes = figure.add_axes((0.11, 0.2, 0.86, 0.64))
    times = [h.hour for h in hours]
    # One hour's width (what the times are spaced by): the last hour's band and some room.
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else timedelta(hours=1)

    _draw_regime_band(axes, hours, step)
    axes.plot(times, [h.price for h in hours], color="#1f2328", lw=2.6, zorder=3)
    _draw_bounds(axes, lower, upper)
    state_colour = STATE_COLOURS.get(state, "#cf222e")
    if changed_at is not None and times[0] <= changed_at <= times[-1]:
        _draw_state_change(axes, state, changed_at, state_colour)
    axes.plot(times[-1:], [hours[-1].price], "o", color=state_colour, ms=10, zorder=5)
    _set_scales(axes, hours, lower, upper, step)
    _draw_titles(figure, hours, title)
    _draw_legend(figure, hours)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _draw_regime_band(axes: Axes, hours: list[ChartHour], step: timedelta) -> None:
    """One span per run of equal verdicts, behind everything."""
    start = 0
    for i in range(1, len(hours) + 1):
        if i == len(hours) or hours[i].verdict != hours[start].verdict:
            colour = REGIME_COLOURS.get(hours[start].verdict or "")
            if colour is not None:
                end = hours[i].hour if i < len(hours) else hours[-1].hour + step
                axes.axvspan(hours[start].hour, end, color=colour, alpha=BAND_ALPHA, lw=0, zorder=0)
            start = i


def _draw_bounds(axes: Axes, lower: float, upper: float) -> None:
    """The grid's bounds as dashed lines, each labelled with its price."""
    for bound, label in ((upper, "upper"), (lower, "lower")):
        axes.axhline(bound, color="#8250df", lw=2, ls=(0, (6, 4)), zorder=2)
        axes.annotate(
            f"{label} {bound:,.0f}",
            xy=(0.01, bound),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4 if label == "upper" else -4),
            textcoords="offset points",
            va="bottom" if label == "upper" else "top",
            fontsize=15,
            color="#8250df",
            fontweight="bold",
        )


def _draw_state_change(axes: Axes, state: str, changed_at: datetime, colour: str) -> None:
    """A line at the hour the state changed, labelled with the state and the time."""
    axes.axvline(changed_at, color=colour, lw=2.5, zorder=4)
    axes.annotate(
        f"{state.replace('_', ' ')} {changed_at:%H:%M}",
        xy=(changed_at, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-6, -6),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=15,
        color=colour,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
    )


def _set_scales(
    axes: Axes, hours: list[ChartHour], lower: float, upper: float, step: timedelta
) -> None:
    """Room for the price and both bounds; ticks twice a day; a light horizontal grid."""
    from matplotlib import dates as mdates

    low = min(lower, *(h.price for h in hours))
    high = max(upper, *(h.price for h in hours))
    pad = (high - low) * 0.08 or high * 0.01
    axes.set_ylim(low - pad, high + pad)
    axes.set_xlim(hours[0].hour, hours[-1].hour + step * 0.5)
    axes.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 12]))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
    axes.yaxis.set_major_formatter(_thousands())
    axes.tick_params(labelsize=14)
    axes.grid(axis="y", color="#d1d9e0", lw=0.8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _draw_titles(figure: Figure, hours: list[ChartHour], title: str) -> None:
    """The title, and under it the last price and the span shown."""
    figure.text(0.02, 0.975, title, fontsize=18, fontweight="bold", va="top")
    figure.text(
        0.02,
        0.915,
        f"{hours[-1].price:,.2f} at {hours[-1].hour:%d %b %H:%M} UTC · hourly closes, "
        f"last {len(hours)} h",
        fontsize=14,
        color="#59636e",
        va="top",
    )


def _draw_legend(figure: Figure, hours: list[ChartHour]) -> None:
    """The regimes the band shows, in the dashboard's order."""
    from matplotlib.patches import Patch

    seen = [v for v in REGIME_COLOURS if any(h.verdict == v for h in hours)]
    if seen:
        figure.legend(
            handles=[Patch(color=REGIME_COLOURS[v], alpha=0.5, label=v) for v in seen],
            loc="lower center",
            ncols=len(seen),
            fontsize=14,
            frameon=False,
            bbox_to_anchor=(0.54, 0.0),
        )


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")
