"""The dashboards' charts: bqplot figures with honest axes, a legend beside them and
an empty state in words.

The rules are plain functions, testable without a browser:

* :func:`tick_format` and :func:`tick_values`: a value axis reads in plain decimals
  with as many decimals as its tick step needs (``0.05, 0.10`` or ``1, 2, 3``), never
  SI prefixes ("240m" for 0.24 hours reads as 240 minutes, or as milli-hours);
* :func:`bar_padding`: one bar never fills the chart (a week alone is a narrow bar);
* :func:`label_layout`: category labels are rotated only when they do not fit side
  by side, and the figure's bottom margin makes room for them;
* :func:`period_starts` and :func:`period_label`: a time axis covers the whole date
  range the filters select (empty periods are gaps), labelled "30 Nov";
* :func:`has_data`: a chart with nothing to draw shows a sentence instead
  (:func:`empty_html`);
* :func:`legend_html`: the series' colours and names beside the figure, black on
  white, never over the bars.

:class:`BarChart` and :class:`LineChart` put these together; the dashboards
(:mod:`.views`) give them their numbers and their words.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from aiworkbench.widgets.templating import render

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
TICKS = 5  # about how many steps a value axis has (d3's tick count)
PLOT_PX = 900  # the plot area's width at a 1400 px wide window, less legend and margins
PLOT_HEIGHT_PX = 300  # the plot area's height; the figure adds its margins
CHAR_PX = 7  # the width of a tick label's character
LABEL_CHARS = 32  # longer category labels are cut, with an ellipsis
MAX_DATE_LABELS = 10  # a time axis labels at most this many periods
MAX_BAR = 0.08  # the widest a bar (or a group of bars) may be, as a share of the plot
PADDING = 0.1  # bqplot's space between bars, as a share of a bar's slot
LEGEND_PX = 220
MARGIN = {"top": 50, "left": 80, "right": 20}
Y_LABEL_OFFSET = "58px"  # the value axis's label, left of tick labels like "12,000"


# --- value axes -------------------------------------------------------------------------
def tick_step(maximum: float, whole: bool = False) -> float:
    """The step between ticks of an axis from 0 to ``maximum``: 1, 2 or 5 times a power
    of ten, about :data:`TICKS` steps (d3's ``tickIncrement``); at least 1 for counts
    (``whole``: learners, jobs)."""
    if not maximum or maximum <= 0 or not math.isfinite(maximum):
        return 1.0
    raw = maximum / TICKS
    power = math.floor(math.log10(raw))
    error = raw / 10**power
    factor = (
        10
        if error >= math.sqrt(50)
        else 5
        if error >= math.sqrt(10)
        else (2 if error >= math.sqrt(2) else 1)
    )
    step = factor * 10**power if power >= 0 else factor / 10**-power
    return max(step, 1.0) if whole else step


def tick_format(maximum: float, whole: bool = False, extra: int = 0) -> str:
    """The d3-format of an axis from 0 to ``maximum``: fixed decimals, as many as its
    tick step needs (and ``extra`` more: a tooltip's), thousands separated (``",.2f"``
    for 0.24, ``",.0f"`` for 1,200). Never SI prefixes: "240m" is what ``".3s"``
    writes for 0.24 hours."""
    step = tick_step(maximum, whole)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f",.{decimals if whole else decimals + extra}f"


def tick_values(maximum: float, whole: bool = False) -> list[float]:
    """The ticks of an axis from 0 to ``maximum``: every step up to the first at or
    above it (the axis ends on a labelled tick)."""
    step = tick_step(maximum, whole)
    count = max(1, math.ceil((maximum or 0) / step - 1e-9))
    return [round(i * step, 10) for i in range(count + 1)]


def has_data(values) -> bool:
    """Whether a chart's values (a list, or a list of series) hold anything but zeros
    and None: if not, the chart shows its empty state instead of blank axes."""
    for value in values:
        if isinstance(value, list | tuple):
            if has_data(value):
                return True
        elif value:
            return True
    return False


# --- category and time axes -------------------------------------------------------------
def bar_padding(slots: int) -> float:
    """bqplot's ``padding`` of bars in ``slots`` places: the usual gap, wider when there
    are few, so that no bar (or group) is wider than :data:`MAX_BAR` of the plot."""
    return max(PADDING, 1 - MAX_BAR * max(slots, 1))


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    """A tick label cut to ``limit`` characters (the value itself is kept)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_layout(labels: list[str], plot_px: int = PLOT_PX) -> tuple[int, int]:
    """(tick rotation in degrees, bottom margin in px) for the x labels shown: flat when
    they fit side by side, else at -45 degrees with room below for the longest."""
    longest = max((len(t) for t in labels), default=0)
    if len(labels) * (longest * CHAR_PX + 12) <= plot_px:
        return 0, 40
    return -45, int(longest * CHAR_PX * 0.72) + 30


def period_starts(since: date, until: date, by: str) -> list[date]:
    """The first day of every day, week (Monday, as DuckDB's ``date_trunc``) or month
    from ``since`` to ``until`` (both included): the time axis of a date range."""
    if by == "day":
        first, step = since, timedelta(days=1)
    elif by == "week":
        first, step = since - timedelta(days=since.weekday()), timedelta(days=7)
    elif by == "month":
        out, day = [], since.replace(day=1)
        while day <= until:
            out.append(day)
            day = (day + timedelta(days=32)).replace(day=1)
        return out
    else:
        raise ValueError(f"by={by!r}: day, week or month")
    out, day = [], first
    while day <= until:
        out.append(day)
        day += step
    return out


def period_label(day: date, by: str, with_year: bool = False) -> str:
    """A period's tick label: "30 Nov" (with the year when the range spans two), or
    "Nov 2026" for a month."""
    if by == "month":
        return f"{day:%b %Y}"
    return f"{day.day} {day:%b}" + (f" {day:%Y}" if with_year else "")


# --- HTML beside the figures ------------------------------------------------------------
def legend_html(items: list[tuple[str, str, str]]) -> str:
    """The legend beside a figure: (colour, name, swatch) per series, swatch "bar",
    "solid", "dashed" or "dotted"; black text, and a name for every entry."""
    return render(
        "dashboard_legend.html",
        items=[
            (colour, str(name) if name not in (None, "") else "(no name)", swatch)
            for colour, name, swatch in items
        ],
    )


def empty_html(text: str) -> str:
    """A chart's empty state: the sentence shown instead of empty axes."""
    return render("dashboard_empty.html", text=text)


class _Chart:
    """A figure with its legend beside it, or its empty state in words."""

    def __init__(self, figure):
        import ipywidgets as w

        self.figure = figure
        self.legend = w.HTML(legend_html([]), layout={"width": f"{LEGEND_PX}px"})
        self.empty = w.HTML(empty_html("Nothing to show yet."))
        figure.layout = {
            "width": f"calc(100% - {LEGEND_PX + 10}px)",
            "height": f"{PLOT_HEIGHT_PX + MARGIN['top'] + 40}px",
        }
        self.plot = w.HBox([figure, self.legend], layout={"width": "100%", "align_items": "center"})
        self.widget = w.VBox([self.empty], layout={"width": "100%"})
        self.is_empty = True

    def show_empty(self, text: str) -> None:
        self.empty.value = empty_html(text)
        self.widget.children = (self.empty,)
        self.is_empty = True

    def show_plot(self, items) -> None:
        self.legend.value = legend_html(items)
        self.widget.children = (self.plot,)
        self.is_empty = False

    @staticmethod
    def set_value_axis(axis, scale, maximum: float, whole: bool) -> None:
        """The value axis from 0 to ``maximum``, ending on a tick, in plain decimals."""
        import numpy as np

        ticks = tick_values(maximum, whole)
        scale.min, scale.max = 0.0, float(ticks[-1])
        axis.tick_values = np.array(ticks, dtype=float)
        axis.tick_format = tick_format(maximum, whole)


class BarChart(_Chart):
    """Bars per category (stacked or grouped series), its value axis labelled with its
    unit ("GPU-hours", "% of budget"), the legend beside it."""

    def __init__(self, title: str, unit: str, *, stacked: bool = True, whole: bool = False):
        import bqplot as bq

        self.whole = whole
        x, y = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(
            x=[],
            y=[],
            scales={"x": x, "y": y},
            type="stacked" if stacked else "grouped",
            display_legend=False,
            padding=PADDING,
            tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ",.2f"]),
        )
        self.x_axis = bq.Axis(scale=x, side="bottom", tick_rotate=0)
        self.y_axis = bq.Axis(
            scale=y,
            side="left",
            label=unit,
            tick_format=",.0f",
            grid_lines="solid",
            label_offset=Y_LABEL_OFFSET,
        )
        super().__init__(
            bq.Figure(
                marks=[self.bars],
                axes=[self.x_axis, self.y_axis],
                title=title,
                fig_margin={**MARGIN, "bottom": 40},
            )
        )

    def show(
        self,
        xs: list[str],
        names: list[str],
        values: list[list[float]],
        *,
        empty: str,
        labels: dict[str, str] | None = None,
        shown: int | None = None,
        colours: list[str] | None = None,
    ) -> None:
        """Draw ``values[series][x]`` over the categories ``xs`` (their tick labels:
        ``labels``, default the values cut short; ``shown``: label about that many, every
        n-th), or the sentence ``empty`` when there is nothing but zeros."""
        if not xs or not has_data(values):
            with self.bars.hold_sync():
                self.bars.x, self.bars.y = [], []
            self.show_empty(empty)
            return
        colours = colours or [PALETTE[i % len(PALETTE)] for i in range(len(names))]
        xs = [str(v) for v in xs]
        labels = labels or {v: short_label(v) for v in xs}
        every = max(1, math.ceil(len(xs) / shown)) if shown else 1
        labels = {v: labels[v] if i % every == 0 else "" for i, v in enumerate(xs)}
        stacked = self.bars.type == "stacked"
        tops = (
            [sum(s[i] or 0 for s in values) for i in range(len(xs))]
            if stacked
            else [v or 0 for s in values for v in s]
        )
        rotate, bottom = label_layout([t for t in labels.values() if t])
        with self.figure.hold_sync():
            # The axes first: bqplot redraws an axis for new data in a transition that
            # keeps the labels and format it had then, so they must already be the new.
            self.x_axis.tick_labels = labels
            self.x_axis.tick_rotate = rotate
            # A rotated label ends at its tick, below the axis (centred, half of it
            # would turn up into the bars).
            self.x_axis.tick_style = {"text-anchor": "end" if rotate else "middle"}
            self.set_value_axis(self.y_axis, self.bars.scales["y"], max(tops), self.whole)
            with self.bars.hold_sync():
                self.bars.x = xs
                self.bars.y = [[v or 0 for v in s] for s in values]
                self.bars.labels = list(names)
                self.bars.colors = colours
                self.bars.padding = bar_padding(len(xs))
                self.bars.tooltip.formats = ["", tick_format(max(tops), self.whole, 1)]
            self.figure.fig_margin = {**MARGIN, "bottom": bottom}
            self.figure.layout.height = f"{PLOT_HEIGHT_PX + MARGIN['top'] + bottom}px"
        self.show_plot([(c, n, "bar") for c, n in zip(colours, names)])


class LineChart(_Chart):
    """Lines over days: a date axis over the whole range, a value axis in ``unit``;
    each line has (name, colour, style) and shows in the legend while it has points."""

    def __init__(self, title: str, unit: str, lines: list[tuple[str, str, str]]):
        import bqplot as bq

        x, y = bq.DateScale(), bq.LinearScale(min=0.0, max=1.0)
        self.lines = {
            name: bq.Lines(
                x=[],
                y=[],
                scales={"x": x, "y": y},
                labels=[name],
                colors=[colour],
                line_style=style,
                display_legend=False,
            )
            for name, colour, style in lines
        }
        self.styles = {name: (colour, style) for name, colour, style in lines}
        self.x_axis = bq.Axis(scale=x, side="bottom", tick_format="%d %b")
        self.y_axis = bq.Axis(
            scale=y,
            side="left",
            label=unit,
            tick_format=",.0f",
            grid_lines="solid",
            label_offset=Y_LABEL_OFFSET,
        )
        super().__init__(
            bq.Figure(
                marks=list(self.lines.values()),
                axes=[self.x_axis, self.y_axis],
                title=title,
                fig_margin={**MARGIN, "bottom": 40, "right": 60},
            )
        )

    def show(
        self,
        points: dict[str, tuple[list[date], list[float]]],
        since: date,
        until: date,
        *,
        title: str,
        empty: str,
    ) -> None:
        """Draw each line's (days, values) over [since, until], or the sentence
        ``empty`` when no line has a point."""
        import numpy as np

        def days(values):
            return np.array(values, dtype="datetime64[D]").astype("datetime64[ms]")

        if not any(ys for _, ys in points.values()):
            self.show_empty(empty)
            return
        top = max(v or 0 for _, ys in points.values() for v in ys)
        with self.figure.hold_sync():
            self.set_value_axis(
                self.y_axis, self.lines[next(iter(self.lines))].scales["y"], top, False
            )
            scale = self.x_axis.scale
            first = min([since, *(d for ds, _ in points.values() for d in ds)])
            last = max([until, *(d for ds, _ in points.values() for d in ds)])
            scale.min, scale.max = days([first])[0], days([last])[0]
            self.x_axis.tick_format = "%d %b" if first.year == last.year else "%d %b %Y"
            for name, line in self.lines.items():
                xs, ys = points.get(name, ([], []))
                with line.hold_sync():
                    line.x, line.y = days(xs), list(ys)
                    line.marker = "circle" if len(xs) == 1 else None  # a point, not a line
            self.figure.title = title
        self.show_plot(
            [
                (self.styles[name][0], name, self.styles[name][1])
                for name, (_, ys) in points.items()
                if ys
            ]
        )
