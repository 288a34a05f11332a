"""The dashboards' charts read at a glance: plain decimals on value axes, a narrow bar
for a single period, labels that fit or turn, every period of the range on a time axis,
a legend with a name per series, and words where there is nothing to draw; budgets
tell "no GPU allocation" from "exhausted"; training shows classes nobody started."""

from datetime import date, datetime

from aiworkbench.dashboards import charts, queries, views
from aiworkbench.dashboards.store import Store

AS_OF = datetime(2026, 12, 1, 12)


def test_value_axes_use_plain_decimals_never_si_prefixes():
    assert charts.tick_format(0.24) == ",.2f"  # 0.00, 0.05 ... never "240m"
    assert charts.tick_values(0.24) == [0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert charts.tick_format(1200) == ",.0f"
    assert charts.tick_values(1200)[-1] >= 1200
    assert charts.tick_format(3, whole=True) == ",.0f"  # learners: no 0.5 of a person
    assert charts.tick_values(3, whole=True) == [0, 1, 2, 3]
    assert charts.tick_format(0.24, extra=1) == ",.3f"  # a tooltip says one more
    assert charts.tick_values(0) == [0, 1]  # an axis with nothing on it still reads


def test_one_bar_is_narrow_and_many_keep_the_usual_gap():
    # A bar's share of the plot: its slot's (1 / slots) less the padding.
    for slots in (1, 3, 12):
        assert (1 - charts.bar_padding(slots)) / slots <= charts.MAX_BAR + 1e-9
    assert charts.bar_padding(40) == charts.PADDING


def test_labels_turn_only_when_they_do_not_fit_and_get_room_below():
    assert charts.label_layout(["gpu", "cpu"]) == (0, 40)
    rotate, bottom = charts.label_layout([f"project-with-a-long-name-{i}" for i in range(12)])
    assert rotate == -45 and bottom > 100
    assert charts.short_label("x" * 50).endswith("…") and len(charts.short_label("x" * 50)) == 32


def test_a_time_axis_covers_every_period_of_the_range():
    weeks = charts.period_starts(date(2026, 11, 4), date(2026, 12, 1), "week")
    assert weeks == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
        date(2026, 11, 23),
        date(2026, 11, 30),
    ]
    assert charts.period_starts(date(2026, 11, 15), date(2027, 1, 2), "month") == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]
    assert charts.period_label(date(2026, 11, 30), "week") == "30 Nov"
    assert charts.period_label(date(2026, 11, 30), "week", with_year=True) == "30 Nov 2026"
    assert charts.period_label(date(2026, 11, 1), "month") == "Nov 2026"
    # One week of use in a month's range is one bar among five, not the whole width.
    xs, labels = views.period_axis(
        [date(2026, 11, 16)], date(2026, 11, 4), date(2026, 12, 1), "week"
    )
    assert len(xs) == 5 and labels["2026-11-16"] == "16 Nov"


def test_a_legend_names_every_series_in_black_and_an_empty_chart_says_why():
    legend = charts.legend_html([("#1f77b4", "edu-intro", "bar"), ("#ff7f0e", "", "dashed")])
    assert "edu-intro" in legend and "(no name)" in legend and "color:#000" in legend
    assert not charts.has_data([[0, 0], [None]]) and charts.has_data([[0, 0.1]])
    chart = charts.BarChart("Per project", "GPU-hours")
    chart.show(["a"], ["p"], [[0]], empty="No GPU usage in this range yet.")
    assert chart.is_empty and "No GPU usage in this range yet." in chart.empty.value
    chart.show(["a", "b"], ["p"], [[0.1, 0.24]], empty="unused")
    assert not chart.is_empty and chart.y_axis.tick_format == ",.2f"
    assert chart.x_axis.tick_labels == {"a": "a", "b": "b"}


def budgets_store(rows) -> Store:
    store = Store()
    store.replace("budgets", [(*row, AS_OF) for row in rows])
    return store


def test_budget_states_tell_no_allocation_from_exhausted():
    assert queries.budget_state(0, 0) == "none"
    assert queries.budget_state(None, 10) == "unlimited"
    assert queries.budget_state(10, 10) == "exhausted"
    assert queries.budget_state(600, 0) == "ok"
    store = budgets_store(
        [
            ("factory-ops", 0, 0, 60000, 120),
            ("sme-trial", 10, 10, 600, 30),
            ("sme-vision", 30000, 600, 120000, 0),
        ]
    )
    status = {
        r["project"]: r
        for r in queries.budget_status(store, queries.Filters(), "gpu", today=AS_OF.date()).dicts()
    }
    assert status["factory-ops"]["state"] == "none"
    assert status["factory-ops"]["exhausted_on"] is None
    assert status["factory-ops"]["used_percent"] is None
    assert status["sme-trial"]["state"] == "exhausted"
    assert views.state_words("none", "gpu") == "no GPU allocation"


def test_the_budgets_dashboard_leaves_projects_without_gpus_out_of_the_chart(tmp_path):
    path = tmp_path / "store.duckdb"
    store = Store(path)
    store.replace(
        "budgets",
        [("factory-ops", 0, 0, 60000, 120, AS_OF), ("sme-vision", 30000, 600, 120000, 0, AS_OF)],
    )
    store.close()
    board = views.Budgets(str(path))
    assert list(board.bars.x) == ["sme-vision"]
    assert "No GPU allocation: factory-ops." in board.without.value
    assert "exhausted" not in board.table.value.split("factory-ops", 1)[1].split("</tr>")[0]
    board.kind.value = "cpu"
    assert sorted(board.bars.x) == ["factory-ops", "sme-vision"] or board.chart.is_empty
    board.close()


def test_training_lists_a_class_nobody_started_and_says_so_when_there_is_none(tmp_path):
    path = tmp_path / "store.duckdb"
    store = Store(path)
    store.close()
    board = views.Training(str(path))
    assert board.chart.is_empty and "No classes yet" in board.chart.empty.value
    board.close()
    store = Store(path)
    store.replace("progress", [("intro", None, None, None, 0, False, None, 4, AS_OF)])
    rows = queries.training(store, queries.Filters()).dicts()
    store.close()
    assert rows == [
        {
            "class": "intro",
            "course": None,
            "learners": 4,
            "started": 0,
            "exercises_passed": 0,
            "exercises_tried": 0,
            "stuck": 0,
        }
    ]
    assert views.training_label("intro", None) == "intro (no exercise tried)"
