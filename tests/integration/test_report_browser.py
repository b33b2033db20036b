"""`turnout report` in headless Chromium with the network blocked.

On real data in the emulator: the phases, the lag series and the journal are drawn, and the PNG
is a real picture. The journal is written through the engine's own `StateStore` (its clock moved
to a fake migration window 40 minutes ago) and the metrics with `PutMetricData`, as the
replicator and Kinesis publish them; no whole cutover is run (the sandbox tests do that).

At the scale of a real pipeline: a report of 100 streams (built as the model directly, no AWS)
keeps its charts, legends and table rows apart and names the streams with the worst lag.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hooks_kit import create_state_table

from report_kit import expected_worst, synthetic_report
from turnout.cli import main
from turnout.engine.state import StateStore
from turnout.report import write_report
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PATH = ("baseline", "switched", "mirrored", "new-live", "committed")
STEPS = ("verify-a", "apply-b")
LAG_MINUTES = 12  # replicator datapoints: one per minute while mirrored and new-live


@pytest.fixture
def project_spec(emulator, tmp_path) -> tuple[Path, MigrationSpec]:
    """The example spec with a migration name and resource prefixes of its own, in a project
    directory of its own (the CLI finds the spec in <root>/terraform/)."""
    document = load_spec(REPO / "terraform" / "migration.yaml").model_dump(
        mode="json", exclude_none=True
    )
    tag = f"{int(time.time() * 1000) % 10**9}"
    document["migration"] = f"report-{tag}"
    document["environments"]["old"]["name_prefix"] = f"rep{tag}-old-"
    document["environments"]["new"]["name_prefix"] = f"rep{tag}-new-"
    spec = MigrationSpec.model_validate(document)
    spec_path = tmp_path / "project" / "terraform" / "migration.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec_path, spec


def _state_store(emulator, spec: MigrationSpec) -> StateStore:
    control = control_plane(spec)
    environment = control.environment
    state_table = control.state_table
    dynamodb = emulator.client("dynamodb", environment)
    create_state_table(dynamodb, state_table)
    return StateStore(dynamodb, state_table, spec.migration)


def _write_journal(store: StateStore, start: datetime, monkeypatch) -> list[datetime]:
    """A forward cutover, one transition every ~6 minutes (about 25 in all); returns the phase change times."""
    clock = {"now": start}

    def tick(seconds: float) -> None:
        clock["now"] += timedelta(seconds=seconds)

    monkeypatch.setattr(store, "clock", lambda: clock["now"].timestamp())
    run = "1800000000-abcdef01"
    changes = []
    store.journal(run, "lock", "acquired", owner="tester", desired="committed")
    for before, after in itertools.pairwise(PATH):
        name = f"{before}->{after}"
        tick(60)
        store.journal(run, "transition", "started", transition=name)
        for step in STEPS:
            tick(5)
            store.journal(run, "step", "started", transition=name, step=step, step_kind="check")
            tick(150)
            store.journal(
                run,
                "step",
                "completed",
                transition=name,
                step=step,
                step_kind="check",
                outcome={"ok": True},
                seconds=150.0,
            )
        tick(2)
        store.journal(run, "transition", "completed", transition=name, phase=after)
        changes.append(clock["now"])
    tick(30)
    store.journal(run, "lock", "released", owner="tester")
    return changes


def _put_metrics(emulator, spec: MigrationSpec, changes: list[datetime]) -> None:
    """Replicator lag for clicks (new->old) once a minute from mirrored to committed, with one
    minute missing; Kinesis incoming records for clicks in both environments."""
    clicks = next(stream for stream in spec.streams if stream.name == "clicks")
    replicator = emulator.client("cloudwatch", "new")
    # Never on a whole minute: lag datapoints all on minutes read as standard resolution (the
    # report then draws the lag per minute). Read at a 10-s period (or any period dividing a
    # minute), a datapoint is answered at the start of its period, so one within the first
    # seconds of a minute came back on the minute (CI once); at second 35 of each minute, none.
    mirrored_at = changes[1] + timedelta(seconds=10)
    mirrored_at += timedelta(seconds=(35 - mirrored_at.second) % 60)
    for minute in range(LAG_MINUTES + 1):
        if minute == 6:
            continue  # a gap: must stay a gap in the drawing
        replicator.put_metric_data(
            Namespace="Turnout/Replication",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [
                        {"Name": "Direction", "Value": "new_to_old"},
                        {"Name": "Stream", "Value": clicks.name_in("new")},
                    ],
                    "Timestamp": mirrored_at + timedelta(minutes=minute),
                    "Value": value,
                    "Unit": unit,
                }
                for name, value, unit in (
                    ("ReplicationLagMs", 400.0 + 150 * minute, "Milliseconds"),
                    ("ReplicatedRecords", 6000.0, "Count"),
                )
            ],
        )
    for environment, first, last in (("old", -3, 7), ("new", 6, 20)):
        emulator.client("cloudwatch", environment).put_metric_data(
            Namespace="AWS/Kinesis",  # as Kinesis publishes it (real AWS refuses AWS/ from us)
            MetricData=[
                {
                    "MetricName": "IncomingRecords",
                    "Dimensions": [{"Name": "StreamName", "Value": clicks.name_in(environment)}],
                    "Timestamp": changes[0] + timedelta(minutes=minute),
                    "Value": 12000.0 + 600 * (minute % 4),
                    "Unit": "Count",
                }
                for minute in range(first, last)
            ],
        )


@pytest.fixture
def report_files(emulator, project_spec, tmp_path, monkeypatch, capsys) -> tuple[dict, Path]:
    """`turnout report --endpoint-url ... --json` on the fake migration: (what it printed, out)."""
    spec_path, spec = project_spec
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=45)
    changes = _write_journal(_state_store(emulator, spec), start, monkeypatch)
    _put_metrics(emulator, spec, changes)
    out = tmp_path / "report"
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(tmp_path / "work"))
    code = main(
        [
            "report",
            "--spec",
            str(spec_path),
            "--endpoint-url",
            emulator.endpoint_url,
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out), out


def _launch(playwright, user_data_dir: Path):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the report's browser test needs Chromium "
            "(`apt-get install chromium`; CI installs it)."
        )
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1100, "height": 900},
    )


def test_rendered_report_draws_phases_lag_series_and_journal_offline(report_files, tmp_path):
    from playwright.sync_api import sync_playwright

    printed, out = report_files
    html, png = out / "turnout-report.html", out / "turnout-report.png"
    assert printed["html"] == str(html) and printed["png"] == str(png)
    assert [phase["phase"] for phase in printed["phases"]] == list(PATH)
    assert printed["series"]["lag:clicks:new-to-old"]["points"] == LAG_MINUTES
    assert printed["series"]["lag:clicks:new-to-old"]["gaps"] == 1
    assert printed["series"]["lag:orders:new-to-old"]["points"] == 0
    # The emulator keeps every datapoint as put: the lag is read at a sub-minute period.
    assert printed["lag_period_seconds"] < 60 <= printed["period_seconds"]
    assert printed["series"]["lag:clicks:new-to-old"]["period_seconds"] < 60
    assert printed["worst_lag"][0]["stream"] == "clicks"
    assert printed["worst_lag"][0]["seconds"] == pytest.approx((400 + 150 * LAG_MINUTES) / 1000)

    requests: list[str] = []
    with sync_playwright() as playwright:
        context = _launch(playwright, tmp_path / "chromium-profile")
        try:
            context.route("**/*", lambda route: _only(route, html, requests))
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")

            bands = page.locator("svg.timeline rect.phase-band")
            assert bands.count() == len(PATH)
            drawn = []
            for index in range(bands.count()):
                band = bands.nth(index)
                assert band.is_visible()
                box = band.bounding_box()
                assert box is not None and box["width"] > 0 and box["height"] > 0
                drawn.append((box["x"], band.get_attribute("data-phase"), box["width"]))
            assert [phase for _, phase, _ in drawn] == list(PATH)
            assert [x for x, _, _ in drawn] == sorted(x for x, _, _ in drawn)
            for (x, _, width), (next_x, _, _) in itertools.pairwise(drawn):
                assert next_x == pytest.approx(x + width, abs=1.5)  # adjacent, in time order

            _assert_lag_and_rates_drawn(page)

            rows = page.locator("table.journal tbody tr")
            expected_rows = 1 + 4 * (2 + 2 * len(STEPS)) + 1
            assert rows.count() == expected_rows
            completed = page.locator(
                'tr.journal-row[data-kind="transition"][data-action="completed"]'
            )
            assert [
                completed.nth(i).locator("td").nth(4).inner_text() for i in range(completed.count())
            ] == [f"{a}->{b}" for a, b in itertools.pairwise(PATH)]
            assert page.locator("rect.step-bar").count() == 4 * len(STEPS)
        finally:
            context.close()
    assert requests and all(url == html.as_uri() for url in requests), requests

    _assert_real_png(png)


def _assert_lag_and_rates_drawn(page) -> None:
    """The highest lag drawn, clicks named as the worst stream, its lag a path inside the plot
    with its datapoints and its gap, orders' lag "no data", the totals and clicks' row drawn."""
    assert page.locator('path[data-series="lag-max:new-to-old"]').is_visible()
    worst = page.locator("table.worst tr.worst-row")
    assert worst.count() == 1 and worst.first.get_attribute("data-stream") == "clicks"
    plot = page.locator('rect.plot-area[data-plot="worst-lag"]').bounding_box()
    lag = page.locator('path[data-series="lag:clicks:new-to-old"]')
    assert lag.is_visible()
    box = lag.bounding_box()
    assert box is not None and box["width"] > plot["width"] / 4
    assert plot["x"] - 1 <= box["x"] and box["x"] + box["width"] <= plot["x"] + plot["width"] + 1
    assert plot["y"] - 1 <= box["y"] and box["y"] + box["height"] <= plot["y"] + plot["height"] + 1
    d = lag.get_attribute("d")
    assert len(re.findall(r"[ML]", d)) == LAG_MINUTES
    assert d.count("M") == 2  # the missing minute breaks the line: two segments
    length = lag.evaluate("path => path.getTotalLength()")
    assert length > plot["width"] / 4
    assert page.locator('[data-no-data~="lag:orders:new-to-old"]').is_visible()
    assert page.locator('path[data-series="lag:orders:new-to-old"]').count() == 0
    rate = page.locator('path[data-series="rate-total:new"]')
    assert rate.is_visible() and rate.bounding_box()["width"] > 0
    clicks = page.locator('tr.stream-row[data-stream="clicks"]')
    assert clicks.locator("td").nth(2).inner_text() == "230"  # 13,800 a minute at peak
    assert clicks.locator('path[data-spark-series="rate:new:clicks"]').is_visible()


def _overlap(a: dict, b: dict) -> bool:
    """Boxes that share more than a pixel's sliver."""
    width = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return width > 0.5 and height > 0.5


BOXES = """elements => elements.map(element => {
    const box = element.getBoundingClientRect();
    return [element.outerHTML.slice(0, 80), element.getAttribute("data-stream"),
            {x: box.x, y: box.y, width: box.width, height: box.height}];
})"""


def _boxes(page, selector: str) -> list[tuple[str, dict]]:
    """(element, box) of every match, read in one round trip; every box is drawn."""
    found = page.eval_on_selector_all(selector, BOXES)
    for name, _, box in found:
        assert box["width"] > 0 and box["height"] > 0, f"{name} is not drawn"
    return [(name, box) for name, _, box in found]


def test_report_of_100_streams_keeps_charts_and_legends_apart_and_names_the_worst(tmp_path):
    from playwright.sync_api import sync_playwright

    files = write_report(synthetic_report(100), tmp_path / "report")
    html = files.html
    worst = expected_worst(100, 10)
    requests: list[str] = []
    with sync_playwright() as playwright:
        context = _launch(playwright, tmp_path / "chromium-profile")
        try:
            context.route("**/*", lambda route: _only(route, html, requests))
            page = context.new_page()
            page.goto(html.as_uri())
            page.wait_for_load_state("load")

            charts = _boxes(page, "svg.chart")
            plots = _boxes(page, "svg.chart rect.plot-area")
            legend = _boxes(page, "ul.legend li")
            assert len(charts) == 4  # lag, worst lag, incoming, replicated: totals first
            assert len(legend) <= 2 + 10 + 2 + 2
            for name, box in legend:
                for chart, chart_box in charts + plots:
                    assert not _overlap(box, chart_box), f"{name} overlaps {chart}"
                assert box["x"] + box["width"] <= 1100, f"{name} runs off the page"
            for index, (name, box) in enumerate(legend + charts):
                for other, other_box in (legend + charts)[index + 1 :]:
                    assert not _overlap(box, other_box), f"{name} overlaps {other}"

            ranked = page.locator("table.worst tr.worst-row")
            assert [
                ranked.nth(i).locator("td").nth(1).inner_text() for i in range(ranked.count())
            ] == worst
            for rank, stream in enumerate(worst[:3]):
                item = page.locator(f'li[data-legend="lag:{stream}:new-to-old"]')
                assert item.is_visible() and stream in item.inner_text()
                assert page.locator(f'path[data-series="lag:{stream}:new-to-old"]').is_visible()
                assert ranked.nth(rank).is_visible()

            _assert_rows_apart_and_sortable(page, worst)
        finally:
            context.close()
    assert requests == [html.as_uri()], requests


def _only(route, html: Path, requests: list[str]) -> None:
    requests.append(route.request.url)
    if route.request.url == html.as_uri():
        route.continue_()
    else:
        route.abort()


def _stream_order(page) -> list[str]:
    """The streams of the per-stream table from top to bottom, as drawn."""
    found = page.eval_on_selector_all("table.streams tr.stream-row", BOXES)
    return [stream for _, stream, box in sorted(found, key=lambda item: item[2]["y"])]


def _assert_rows_apart_and_sortable(page, worst: list[str]) -> None:
    """Every stream has a row; rows never overlap; the default order is the worst lag first,
    and choosing "stream" orders them by name, without any script."""
    rows = _boxes(page, "table.streams tr.stream-row")
    assert len(rows) == 100
    ordered = sorted(box["y"] for _, box in rows)
    heights = min(box["height"] for _, box in rows)
    assert all(b - a >= heights - 0.5 for a, b in itertools.pairwise(ordered))
    assert _stream_order(page)[:10] == worst
    page.locator('label[for="sort-name"]').click()
    assert _stream_order(page) == sorted(_stream_order(page))
    page.locator('label[for="sort-lag"]').click()
    assert _stream_order(page)[:10] == worst


def _assert_real_png(png: Path) -> None:
    from PIL import Image, ImageStat

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        width, height = image.size
        assert width >= 800 and height >= 500
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
        assert spread > 10, f"the PNG looks blank (grey-level spread {spread:.1f})"
