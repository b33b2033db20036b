"""The report at the scale of a real pipeline: totals over every stream, the worst streams by
lag, the per-stream table and its orders, sparklines, and a PNG whose legends stay bounded and
beside the plots whatever the number of streams."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from report_kit import expected_worst, planted_peaks, synthetic_report
from turnout.report.aggregate import stream_rows, totals, worst_lag
from turnout.report.html import render_html
from turnout.report.model import Series
from turnout.report.spark import SPARK_WIDTH, sparkline

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PNG_LEGEND_LIMIT = 12


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _series(kind: str, series_id: str, points: dict[int, float], period: int = 60) -> Series:
    unit = "s" if kind == "lag" else "records/s"
    return Series(
        series_id, kind, series_id, unit, period, tuple((_at(s), v) for s, v in points.items())
    )


def test_totals_sum_the_rates_and_take_the_highest_lag_of_each_period():
    series = [
        _series("rate", "rate:old:a", {0: 10.0, 60: 12.0}),
        _series("rate", "rate:old:b", {0: 5.0, 60: 1.0}),
        _series("rate", "rate:new:a", {60: 7.0}),
        _series("lag", "lag:a:new-to-old", {0: 1.5, 10: 4.0}, 10),
        _series("lag", "lag:b:new-to-old", {0: 2.5, 10: 3.0}, 10),
    ]
    rates = {item.id: item for item in totals(series, "rate")}
    assert list(rates) == ["rate-total:old", "rate-total:new"]  # old first
    assert rates["rate-total:old"].points == ((_at(0), 15.0), (_at(60), 13.0))
    assert rates["rate-total:new"].points == ((_at(60), 7.0),)
    (lag,) = totals(series, "lag")
    assert lag.id == "lag-max:new-to-old" and lag.period_seconds == 10
    assert lag.points == ((_at(0), 2.5), (_at(10), 4.0))
    assert "2 streams" in lag.label


def test_a_stream_without_a_datapoint_adds_nothing_and_no_stream_at_all_is_a_gap():
    series = [
        _series("rate", "rate:old:a", {0: 10.0, 60: 10.0, 300: 10.0}),
        _series("rate", "rate:old:b", {0: 5.0, 300: 5.0}),
        _series("rate", "rate:old:silent", {}),
    ]
    (total,) = totals(series, "rate")
    assert total.points == ((_at(0), 15.0), (_at(60), 10.0), (_at(300), 15.0))
    assert total.gaps() == [(_at(60), _at(300))]
    assert "3 streams" in total.label


def test_worst_streams_are_ranked_by_their_peak_with_when_it_was():
    series = [
        _series("lag", "lag:calm:new-to-old", {0: 1.0, 10: 1.2}, 10),
        _series("lag", "lag:spiky:new-to-old", {0: 1.0, 10: 30.0, 20: 30.0}, 10),
        _series("lag", "lag:slow:new-to-old", {0: 9.0}, 10),
        _series("lag", "lag:never:old-to-new", {}, 10),
        _series("rate", "rate:old:spiky", {0: 999.0}),
    ]
    worst = worst_lag(series, top=2)
    assert [(peak.stream, peak.direction, peak.seconds) for peak in worst] == [
        ("spiky", "new-to-old", 30.0),
        ("slow", "new-to-old", 9.0),
    ]
    assert worst[0].at == _at(10)  # the first time it reached the peak


def test_stream_rows_hold_each_streams_figures_and_what_has_no_data():
    series = [
        _series("rate", "rate:old:a", {0: 10.0, 60: 30.0}),
        _series("rate", "rate:new:a", {}),
        _series("replicated", "replicated:a:new-to-old", {0: 2.0, 60: 3.0}),
        _series("lag", "lag:a:new-to-old", {0: 1.0, 120: 4.0}),
        _series("lag", "lag:a:old-to-new", {}),
        _series("lag", "lag:b:new-to-old", {}),
    ]
    rows = {row.stream: row for row in stream_rows(series)}
    a = rows["a"]
    assert a.incoming_peak == {"old": 30.0, "new": None}
    assert a.replicated_records == pytest.approx(300.0)  # (2 + 3) records/s x 60 s
    assert (a.lag_peak.seconds, a.lag_peak.direction, a.lag_gaps) == (4.0, "new-to-old", 1)
    assert set(a.no_data) == {"rate:new:a", "lag:a:old-to-new"}
    assert rows["b"].lag_peak is None and rows["b"].replicated_records is None
    assert [row.stream for row in stream_rows(series)] == ["a", "b"]  # lag data first


def test_sub_minute_lag_breaks_only_after_a_silent_minute():
    seconds = [0, 10, 20, 50, 60, 140, 150]  # 30 s between invocations: the replicator's rhythm
    lag = _series("lag", "lag:a:new-to-old", {s: 1.0 for s in seconds}, 10)
    assert [len(segment) for segment in lag.segments()] == [5, 2]  # 60 -> 140: a gap
    assert lag.gaps() == [(_at(60), _at(140))]


def test_a_sparkline_of_720_points_is_short_and_keeps_its_gap():
    points = {s: float(s % 7) for s in range(0, 7200, 10) if not 3000 <= s < 3100}
    lag = _series("lag", "lag:a:new-to-old", points, 10)
    svg = sparkline([(lag, "#c0392b")], T0, T0 + timedelta(hours=2), "a: lag")
    path = re.search(r' d="([^"]*)"', svg).group(1)
    assert path.count("M") == 2  # two segments around the 100 s silence
    assert len(re.findall(r"[ML]", path)) <= SPARK_WIDTH + 2
    assert "<title>a: lag</title>" in svg


class _Rows(HTMLParser):
    """Every per-stream row: its stream and the sort ranks in its style attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, dict[str, int]]] = []
        self.worst: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("class") == "stream-row":
            ranks = dict(re.findall(r"--by-(\w+):(\d+)", attrs["style"]))
            self.rows.append((attrs["data-stream"], {k: int(v) for k, v in ranks.items()}))
        if tag == "tr" and attrs.get("class") == "worst-row":
            self.worst.append(attrs["data-stream"])


def test_100_streams_page_names_the_worst_and_ranks_every_stream_for_each_order():
    report = synthetic_report(100)
    html = render_html(report)
    parsed = _Rows()
    parsed.feed(html)
    assert parsed.worst == expected_worst(100, 10)
    assert len(parsed.rows) == 100
    peaks = planted_peaks(100)
    by_lag = sorted(parsed.rows, key=lambda row: row[1]["lag"])
    assert [stream for stream, _ in by_lag] == sorted(peaks, key=lambda s: -peaks[s][0])
    by_name = sorted(parsed.rows, key=lambda row: row[1]["name"])
    assert [stream for stream, _ in by_name] == sorted(peaks)
    for order in ("lag", "name", "incoming", "replicated", "gaps"):
        assert sorted(ranks[order] for _, ranks in parsed.rows) == list(range(1, 101))
    gappy = sorted(parsed.rows, key=lambda row: row[1]["gaps"])[0][0]
    assert int(gappy.rsplit("-", 1)[1]) % 7 == 0  # the kit silences every seventh stream
    # Totals first: one line per environment or direction, never one per stream.
    assert len(re.findall(r'<li data-legend="rate-total:', html)) == 2
    assert len(re.findall(r"<li data-legend=", html)) <= 2 + 1 + 1 + 10
    assert len(html) < 1_500_000


def test_page_allows_no_script_and_no_fetch_by_policy():
    html = render_html(synthetic_report(3))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert policy == "default-src 'none'; style-src 'unsafe-inline'"
    assert "<script" not in html and not re.search(r"(?i)\b(src|href)\s*=", html)
    # The only inline styles: swatch colours and the sort ranks (integers).
    for style in re.findall(r'style="([^"]*)"', html):
        assert re.fullmatch(r"background:#[0-9a-f]{6}|(--by-\w+:\d+;?)+", style), style


@pytest.mark.parametrize("streams", [1, 100, 300])
def test_png_legends_stay_bounded_and_beside_the_plots_whatever_the_stream_count(streams):
    from turnout.report.png import draw_figure

    figure = draw_figure(synthetic_report(streams))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None]
    entries = sum(len(legend.get_texts()) for legend in legends)
    assert 0 < entries <= PNG_LEGEND_LIMIT
    plots = [axes.get_window_extent(renderer) for axes in figure.axes]
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    for box in boxes:
        assert not any(box.overlaps(plot) for plot in plots), "a legend covers a plot"
        assert box.x1 <= figure.bbox.x1 + 1, "a legend is cut off at the figure's edge"
    for index, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[index + 1 :])
    texts = [text.get_text() for legend in legends for text in legend.get_texts()]
    if streams >= 5:
        assert [t.split(" ")[0] for t in texts if "peak" in t] == expected_worst(streams, 5)


def test_png_draws_a_stream_name_with_dollars_as_text_not_mathtext():
    from turnout.report.png import draw_figure

    name = r"odd$\notacommand$name"
    lag = _series("lag", f"lag:{name}:new-to-old", {0: 1.0, 10: 2.0}, 10)
    report = synthetic_report(1)
    report.series.append(lag)
    figure = draw_figure(report)
    figure.canvas.draw()  # mathtext would fail on the unknown command
    texts = [
        t.get_text()
        for axes in figure.axes
        if axes.get_legend()
        for t in axes.get_legend().get_texts()
    ]
    assert any(r"\$\notacommand\$" in text for text in texts)
