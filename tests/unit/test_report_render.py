"""The HTML/SVG report: hostile strings escaped, gaps drawn as gaps, nothing fetched from
anywhere; the PNG drawn from the same model."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from turnout.report import write_report
from turnout.report.html import render_html
from turnout.report.model import CutoverReport, JournalRow, PhaseBand, Series, StepSpan

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&"\''


def _minutes(*minutes: int, value: float = 1.0) -> tuple:
    return tuple((T0 + timedelta(minutes=m), value + m / 10) for m in minutes)


def _report(series: list[Series], **changes) -> CutoverReport:
    report = CutoverReport(
        migration="clickstream",
        window_start=T0,
        window_end=T0 + timedelta(minutes=20),
        generated_at=T0 + timedelta(minutes=21),
        period_seconds=60,
        phases=[
            PhaseBand("baseline", T0, T0 + timedelta(minutes=5)),
            PhaseBand("switched", T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)),
            PhaseBand("mirrored", T0 + timedelta(minutes=9), T0 + timedelta(minutes=20), True),
        ],
        steps=[
            StepSpan("baseline->switched", "route-to-new", "apply", "r1", T0, 41.5, "completed")
        ],
        journal=[
            JournalRow(T0, "r1", "step", "completed", "baseline->switched", "route-to-new", 41.5)
        ],
        series=series,
    )
    for name, value in changes.items():
        setattr(report, name, value)
    return report


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def test_hostile_strings_are_escaped_everywhere():
    lag = Series(f"lag:{HOSTILE}:new-to-old", "lag", HOSTILE, "s", 60, _minutes(1, 2, 3))
    report = _report(
        [lag],
        migration=HOSTILE,
        notes=[HOSTILE],
        phases=[PhaseBand(HOSTILE, T0, T0 + timedelta(minutes=20), True)],
        steps=[StepSpan(HOSTILE, HOSTILE, HOSTILE, "r1", T0, 3.0, HOSTILE)],
        journal=[JournalRow(T0, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, None)],
    )
    html = render_html(report)
    parsed = _parse(html)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "img")]
    assert not [attrs for _, attrs in parsed.tags if any(k.startswith("on") for k in attrs)]
    assert HOSTILE not in html
    assert any(HOSTILE in text for text in parsed.text)  # shown, as text
    assert any(attrs.get("data-phase") == HOSTILE for _, attrs in parsed.tags)
    assert any(attrs.get("data-series") == lag.id for _, attrs in parsed.tags)


def test_report_is_self_contained():
    html = render_html(_report([Series("lag:a:new-to-old", "lag", "a", "s", 60, _minutes(1, 2))]))
    assert not re.search(r"(?i)\b(src|href)\s*=", html)
    assert not re.search(r"(?i)https?://(?!www\.w3\.org/2000/svg)", html)
    assert "@import" not in html and "url(" not in html and "<script" not in html


def test_missing_periods_break_the_line_and_are_named():
    lag = Series("lag:clicks:new-to-old", "lag", "clicks lag", "s", 60, _minutes(1, 2, 3, 7, 8, 12))
    html = render_html(_report([lag]))
    path = next(
        attrs
        for tag, attrs in _parse(html).tags
        if tag == "path" and attrs.get("data-series") == lag.id
    )
    assert path["d"].count("M") == 3  # segments 1-3, 7-8 and 12 alone
    assert path["data-points"] == "6" and path["data-gaps"] == "2"
    assert 'data-series-point="lag:clicks:new-to-old"' in html  # the lone point is a dot
    assert 'data-gaps-of="lag:clicks:new-to-old"' in html and "09:03:00 - 09:07:00" in html


def test_series_without_datapoints_is_noted_and_never_drawn_as_zero():
    empty = Series("lag:orders:new-to-old", "lag", "orders lag", "s", 60)
    html = render_html(_report([empty]))
    assert 'data-series="lag:orders:new-to-old"' not in html
    assert 'data-no-data="lag:orders:new-to-old"' in html
    assert 'data-chart="lag"' not in html  # no chart at all when nothing has data


def test_segments_follow_the_period():
    series = Series("rate:old:clicks", "rate", "clicks", "records/s", 300, _minutes(0, 5, 10, 20))
    assert [len(segment) for segment in series.segments()] == [3, 1]
    assert series.gaps() == [(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))]


def test_write_report_writes_html_and_a_non_blank_png(tmp_path):
    from PIL import Image, ImageStat

    series = [
        Series("lag:clicks:new-to-old", "lag", "clicks lag", "s", 60, _minutes(9, 10, 11, 14)),
        Series("rate:old:clicks", "rate", "old clicks", "records/s", 60, _minutes(0, 1, 2, 3)),
    ]
    files = write_report(_report(series), tmp_path / "out")
    assert files.html.read_text().startswith("<!DOCTYPE html>")
    with Image.open(files.png) as image:
        assert image.size[0] >= 800
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10


def test_png_time_axis_ticks_are_times_not_day_fractions():
    from matplotlib import dates

    from turnout.report.png import draw_figure

    lag = Series("lag:clicks:new-to-old", "lag", "clicks lag", "s", 60, _minutes(9, 10, 11))
    figure = draw_figure(_report([lag]))
    axis = figure.axes[-1]
    figure.canvas.draw()
    ticks = [dates.num2date(tick) for tick in axis.get_xticks()]
    assert len(ticks) >= 3
    assert all(tick.second == 0 and tick.microsecond == 0 for tick in ticks)
    labels = [label.get_text() for label in axis.get_xticklabels()]
    assert len(set(labels)) == len(labels)  # no two ticks share a label


def test_the_replicators_duplicates_and_inversions_are_shown_as_counted():
    series = [
        Series("duplicates:clicks:new-to-old", "duplicates", "d", "records", 60, _minutes(1, 2)),
        Series("inversions:clicks:new-to-old", "inversions", "i", "records", 60, _minutes(1)),
        Series("duplicates:clicks:old-to-new", "duplicates", "d", "records", 60),
        Series("inversions:clicks:old-to-new", "inversions", "i", "records", 60),
    ]
    report = _report(series, orderings={"clicks": "relaxed"})
    rows = {row["direction"]: row for row in report.counted()}
    assert rows["new-to-old"] == {
        "stream": "clicks",
        "direction": "new-to-old",
        "ordering": "relaxed",
        "duplicates": 1.1 + 1.2,
        "inversions": 1.1,
    }
    assert rows["old-to-new"]["duplicates"] is None  # no datapoint: unknown, never zero
    html = render_html(report)
    row = re.search(r'<tr data-counted="clicks:new-to-old">(.*?)</tr>', html).group(1)
    assert "relaxed" in row and ">2<" in row and ">1<" in row
    assert re.search(r'data-counted="clicks:old-to-new">.*?no data', html)
    assert report.summary()["counted"] == report.counted()
