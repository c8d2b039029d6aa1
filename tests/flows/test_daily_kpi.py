"""The daily KPI batch end to end on the recorded sample, checked by hand where it matters.

One replay per module: a grid placed in the range of 2023-08-14, the hourly pipeline over it,
the operator stopping the grid ten minutes after the first MANDATORY_EXIT decision of the
17 August crash, snapshots on to 2023-08-22, then the daily batch over 2023-08-14..22.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from git import Repo

from cli.main import main
from flows.backfill import backfill
from flows.daily_kpi import daily_kpi
from flows.hourly_pipeline import hourly_pipeline
from market_maker.base.errors import DataError, ParameterError
from market_maker.data_files import data_file_validator
from market_maker.decisions.model import EvaluationData, decision_id
from market_maker.decisions.store import DecisionStore
from market_maker.kpis.model import Kpi, read_kpi_file
from market_maker.kpis.run_result import KpiRunResult
from market_maker.operator.grids import grid_add, grid_set
from market_maker.snapshots import SnapshotReader
from market_maker.snapshots.problems import Limits
from tests.browser import Browser, chromium
from tests.grid_files import grid_data

SYMBOL = "ETH-USDT"
GRID = grid_data(symbol=SYMBOL)  # 1,780-1,900 from 2023-08-14
START = datetime(2023, 8, 14, tzinfo=UTC)
FIRST_MANDATORY = datetime(2023, 8, 17, 12, tzinfo=UTC)
STOPPED = FIRST_MANDATORY + timedelta(hours=1, minutes=10)
END = datetime(2023, 8, 22, 23, tzinfo=UTC)
DAYS = (date(2023, 8, 14), date(2023, 8, 22))


@dataclass
class Scored:
    repo: Path
    remote: Path
    result: KpiRunResult
    head: str


def environment(base: Path) -> dict[str, str]:
    return {
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base / "data-repo"),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(base / "remote.git"),
    }


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Scored:
    base = tmp_path_factory.mktemp("daily-kpi")
    Repo.init(base / "remote.git", bare=True, initial_branch="main")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment(base).items():
            mp.setenv(key, value)
        grid_file = base / "eth-grid-1.yaml"
        grid_file.write_text(yaml.safe_dump(GRID))
        grid_add(grid_file)
        hourly_pipeline(symbols=[SYMBOL], start=START, end=FIRST_MANDATORY)
        grid_set(
            GRID["id"],
            enabled=False,
            at=STOPPED,
            reason="STOP_GRID after MANDATORY_EXIT",
            decision=decision_id(SYMBOL, FIRST_MANDATORY + timedelta(hours=1)),
        )
        hourly_pipeline(symbols=[SYMBOL], start=FIRST_MANDATORY + timedelta(hours=1), end=END)
        backfill(symbol=SYMBOL, start=END + timedelta(hours=1), end=END + timedelta(hours=1))
        result = daily_kpi(start=DAYS[0], end=DAYS[1])
    repo = base / "data-repo"
    return Scored(repo, base / "remote.git", result, Repo(repo).head.commit.hexsha)


@pytest.fixture
def on_scored(scored: Scored, monkeypatch: pytest.MonkeyPatch) -> Scored:
    for key, value in environment(scored.repo.parent).items():
        monkeypatch.setenv(key, value)
    return scored


def kpi_file(repo: Path, day: date):
    return read_kpi_file(repo / "kpis" / f"{day:%Y-%m-%d}.yaml")


def test_a_kpi_file_per_day_is_written_validated_and_pushed(scored: Scored) -> None:
    days = [DAYS[0] + timedelta(days=i) for i in range(9)]
    assert scored.result.kpi_files == {d: "written" for d in days}
    for day in days:
        file = kpi_file(scored.repo, day)
        assert file.date == day and set(file.windows) == {"day", "7d", "30d"}
        assert set(file.windows["day"]) == set(Kpi)
    pushed = Repo(scored.remote).git.ls_tree("-r", "--name-only", "main").splitlines()
    assert {f"kpis/{d:%Y-%m-%d}.yaml" for d in days} <= set(pushed)
    assert "dashboard/index.html" in pushed
    assert not Repo(scored.repo).is_dirty(untracked_files=True)
    # The batch's commit names its run, as every run's commit does.
    message = Repo(scored.remote).commit("main").message
    assert message.startswith("daily-kpi: 2023-08-14..2023-08-22\n")
    assert "\nFlow-Run: daily-kpi 2023-08-14..2023-08-22 (" in message


def test_decisions_get_their_outcome_at_every_horizon_the_data_allows(scored: Scored) -> None:
    store = DecisionStore(scored.repo)
    horizons: dict[str, set[str]] = {}
    for path in sorted(
        (scored.repo / "decisions").rglob("dec-*-[0-9][0-9][0-9][0-9][0-9][0-9].yaml")
    ):
        record = store.read(path)
        horizons[record.id] = {e.data["horizon"] for e in store.entries(record.id, "evaluation")}
        if record.type == "GRID_SETUP":  # after the stop: setups are judged by their grids
            assert horizons.pop(record.id) == set(), record.id
            continue
        until = datetime(2023, 8, 23, tzinfo=UTC)
        due = {
            label
            for label, hours in (("24h", 24), ("72h", 72), ("7d", 168))
            if record.issued_at + timedelta(hours=hours) <= until
        }
        assert horizons[record.id] == due, record.id
    assert any(h == {"24h", "72h", "7d"} for h in horizons.values())

    stop = decision_id(SYMBOL, FIRST_MANDATORY + timedelta(hours=1))
    (day, *_) = [e for e in store.entries(stop, "evaluation") if e.data["horizon"] == "24h"]
    outcome = EvaluationData.model_validate(day.data)
    assert outcome.broke and outcome.recommendation_quality == "right"
    assert outcome.usd_if_followed > outcome.usd_if_ignored  # stopping saved money
    assert outcome.action == "executed" and outcome.action_quality == "helped"
    (action,) = store.entries(stop, "action")
    assert action.data["late"] is False and action.data["source"] == "grid disable"


def test_a_rerun_writes_nothing_new(on_scored: Scored) -> None:
    again = daily_kpi(start=DAYS[0], end=DAYS[1])

    assert again.evaluations == 0
    assert set(again.kpi_files.values()) == {"unchanged"}
    assert again.commit is None
    assert Repo(on_scored.repo).head.commit.hexsha == on_scored.head


def test_an_hour_evaluated_again_after_the_grid_was_stopped_gets_no_new_revision(
    on_scored: Scored,
) -> None:
    # The stop at 13:10 changed the grid file after these hours were evaluated; their inputs
    # (the grid's parameters, since when it ran) did not change.
    day = on_scored.repo / "exit_states" / SYMBOL / "2023-08-17.yaml"
    before = day.read_bytes()

    hourly_pipeline(symbols=[SYMBOL], start=START + timedelta(days=3), end=FIRST_MANDATORY)

    assert day.read_bytes() == before
    assert b"revision: 2" not in before


def test_a_day_with_nothing_to_score_says_no_events(on_scored: Scored) -> None:
    result = daily_kpi(day=date(2023, 8, 12))  # before any grid ran

    file = kpi_file(on_scored.repo, date(2023, 8, 12))
    assert result.kpi_files == {date(2023, 8, 12): "written"}
    assert file.no_events and file.events == []
    for kpi, value in file.windows["day"].items():
        assert value.denominator == 0, kpi
        assert value.value in (None, 0.0), kpi  # nothing made up: no value, or no cost


def test_a_day_that_has_not_ended_is_refused(on_scored: Scored) -> None:
    with pytest.raises(ParameterError, match="has not ended yet"):
        daily_kpi(day=date(2023, 9, 1))
    with pytest.raises(ParameterError, match="before start"):
        daily_kpi(start=date(2023, 8, 20), end=date(2023, 8, 19))


# -- the numbers, by hand ---------------------------------------------------------------------


def hourly_closes(repo: Path) -> dict[datetime, float]:
    """Each recorded hour's close: the last minute of its snapshot."""
    reader = SnapshotReader(repo)
    out = {}
    for hour in reader.stored_hours(SYMBOL):
        snap = reader.load_snapshot(SYMBOL, hour)
        out[hour] = snap.price(snap.minutes[-1].c)
    return out


def exit_states(repo: Path) -> dict[datetime, str]:
    """The state of every evaluated hour (the latest revision), from the files as written."""
    out = {}
    for path in sorted((repo / "exit_states" / SYMBOL).glob("*.yaml")):
        for e in yaml.safe_load(path.read_text())["evaluations"]:
            out[datetime.fromisoformat(e["hour"].replace("Z", "+00:00"))] = e["state"]
    return out


def test_fer_and_slar_of_a_week_recomputed_by_hand_from_the_files(scored: Scored) -> None:
    closes, states = hourly_closes(scored.repo), exit_states(scored.repo)
    lower, upper = GRID["lower_price"], GRID["upper_price"]
    exits = ("LATEST_ACCEPTABLE_EXIT", "MANDATORY_EXIT")
    hour = timedelta(hours=1)
    end = datetime(2023, 8, 19, tzinfo=UTC)  # the 7 days ending 2023-08-18
    start = end - timedelta(days=7)

    # Exit signals: an hour entering LATEST_ACCEPTABLE_EXIT or above; judged when its close was
    # inside the grid and 24 hours followed before the end; false when all 24 stayed inside.
    signals = [
        h
        for h in sorted(states)
        if start <= h < end and states[h] in exits and states.get(h - hour) not in exits
    ]
    judged = [h for h in signals if lower <= closes[h] <= upper and h + timedelta(hours=25) <= end]
    false = [h for h in judged if all(lower <= closes[h + k * hour] <= upper for k in range(1, 25))]
    # Breaks: the first close outside the grid while it ran, or within 24 h of its stop in an
    # exit state; signalled when an exit state led into it.
    watch_end = STOPPED + timedelta(hours=24)
    (broke,) = [
        h for h in sorted(closes) if START <= h < watch_end and not lower <= closes[h] <= upper
    ][:1]
    last_state = states[max(h for h in states if h < broke)]
    signalled = 1 if last_state in exits else 0

    week = kpi_file(scored.repo, date(2023, 8, 18)).windows["7d"]
    assert (week[Kpi.FER].numerator, week[Kpi.FER].denominator) == (len(false), len(judged))
    assert week[Kpi.FER].value == (len(false) / len(judged) if judged else None)
    assert (week[Kpi.SLAR].numerator, week[Kpi.SLAR].denominator) == (signalled, 1)
    assert len(judged) == 1 and signalled == 1  # the case the replay was chosen for


# -- the command line and the page ------------------------------------------------------------


def test_kpi_prints_the_table_and_json(on_scored: Scored, capsys: pytest.CaptureFixture) -> None:
    assert main(["kpi", "--date", "2023-08-18"]) == 0
    out = capsys.readouterr().out
    assert "KPIs of 2023-08-18" in out and "FER" in out and "< 0.30" in out

    assert main(["kpi", "--start", "2023-08-17", "--end", "2023-08-18", "--format", "json"]) == 0
    files = json.loads(capsys.readouterr().out)
    stored = kpi_file(on_scored.repo, date(2023, 8, 18)).model_dump(mode="json")
    assert files[1]["windows"] == stored["windows"]


def test_kpi_with_an_inverted_range_is_one_line(
    on_scored: Scored, capsys: pytest.CaptureFixture
) -> None:
    assert main(["kpi", "--start", "2023-08-18", "--end", "2023-08-17"]) == 2
    assert capsys.readouterr().err.strip() == (
        "market-maker kpi: --end 2023-08-17 is before --start 2023-08-18"
    )


def test_decision_act_records_an_action_and_refuses_bad_ones(
    on_scored: Scored, capsys: pytest.CaptureFixture
) -> None:
    issued = datetime(2023, 8, 16, 23, tzinfo=UTC)
    dec = decision_id(SYMBOL, issued)
    head = Repo(on_scored.repo).head.commit.hexsha

    assert (
        main(["decision", "act", "--id", "dec-ETH-USDT-20230901-090000", "--action", "declined"])
        == 1
    )
    assert "no decision dec-ETH-USDT-20230901-090000" in capsys.readouterr().err
    assert (
        main(["decision", "act", "--id", dec, "--action", "declined", "--at", "2023-08-16T22:30Z"])
        == 1
    )
    assert "before decision" in capsys.readouterr().err
    assert Repo(on_scored.repo).head.commit.hexsha == head  # nothing written

    assert (
        main(
            [
                "decision",
                "act",
                "--id",
                dec,
                "--action",
                "ignored",
                "--at",
                "2023-08-17T09:00Z",
                "--note",
                "asleep",
            ]
        )
        == 0
    )
    assert "recorded (late: the decision had expired)" in capsys.readouterr().out
    (entry,) = DecisionStore(on_scored.repo).entries(dec, "action")
    assert entry.data["action"] == "ignored" and entry.data["late"] is True


def test_the_dashboard_command_writes_a_page(
    on_scored: Scored, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["dashboard", "--out", str(tmp_path / "page"), "--date", "2023-08-22"]) == 0
    page = tmp_path / "page" / "index.html"
    assert capsys.readouterr().out.strip() == str(page)
    text = page.read_text()
    assert "Chart.js v4.6.1" in text and 'id="dashboard-data"' in text
    assert "http://" not in text.split("<script>")[0]  # nothing fetched from anywhere


CHARTS = """(() => {
  const canvases = [...document.querySelectorAll('canvas')];
  return {
    charts: Object.keys(Chart.instances).length,
    drawn: canvases.map((c) => {
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
      return [c.id, painted];
    }),
    markers: Object.values(Chart.instances).flatMap((ch) => ch.data.datasets)
      .filter((d) => d.type === 'scatter').map((d) => d.label),
  };
})()"""


# What the reader sees: the header, the price chart's first and last day labels, the colour
# at the centre of every exit-state dot, the KPI table and its notes.
SEEN = """(() => {
  const chart = Object.values(Chart.instances).find((c) => c.canvas.id.startsWith('price-'));
  const x = chart.scales.x, ratio = chart.currentDevicePixelRatio;
  const at = (p) => Array.from(chart.ctx.getImageData(
    Math.round(p.x * ratio), Math.round(p.y * ratio), 1, 1).data.slice(0, 3));
  const labels = x.ticks.map((t) => x.options.ticks.callback(t.value));
  return {
    subtitle: document.getElementById('subtitle').textContent,
    axis: [labels[0], labels[labels.length - 1]],
    dots: chart.data.datasets.flatMap((d, i) => d.label.startsWith('→')
      ? chart.getDatasetMeta(i).data.map((p) => [d.label, at(p)]) : []),
    rows: [...document.querySelectorAll('#kpi-table tbody tr')]
      .map((tr) => [...tr.children].map((td) => td.textContent)),
    notes: [...document.querySelectorAll('#kpi-table .note')].map((p) => p.textContent),
  };
})()"""
STATE_COLOURS = {(26, 127, 55), (191, 135, 0), (219, 109, 40), (207, 34, 46)}


def test_the_dashboard_loads_in_headless_chromium_and_every_chart_draws(
    scored: Scored,
) -> None:
    if chromium() is None:
        pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
    page = scored.repo / "dashboard" / "index.html"
    with Browser() as browser:
        run = browser.open(
            page.as_uri(),
            "window.dashboard && window.dashboard.ready",
            f"({{charts: {CHARTS}, seen: {SEEN}}})",
        )

    assert run.errors == []
    assert run.requests == [page.as_uri()]  # offline: the page loads nothing else
    result, seen = run.result["charts"], run.result["seen"]
    assert result["charts"] == len(result["drawn"]) == 3
    for canvas, painted in result["drawn"]:
        assert painted > 1000, f"{canvas} drew nothing"
    assert {"→ MANDATORY_EXIT", "operator action"} <= set(result["markers"])

    # The header names the first and the last day of the prices shown; the axis starts on the
    # first and labels no day past the last.
    embedded = page.read_text().split('id="dashboard-data" type="application/json">')[1]
    data = json.loads(embedded.split("</script>")[0])
    hours = [t for symbol in data["symbols"] for t, _ in symbol["prices"]]
    first, last = (datetime.fromtimestamp(t / 1000, UTC).date() for t in (min(hours), max(hours)))
    assert seen["subtitle"].startswith(f"{first} .. {last} (UTC)")
    assert seen["axis"][0] == str(first) and seen["axis"][1] <= str(last)
    # Every exit-state dot shows its colour: none is hidden under an operator's triangle.
    assert seen["dots"] and all(tuple(rgb) in STATE_COLOURS for _, rgb in seen["dots"]), seen
    # The KPI table says what each KPI counts, with values as the command line prints them.
    prr = next(row for row in seen["rows"] if row[0] == "PRR")
    assert prr[1] == "profit retention rate (kept / peak profit)"
    assert all(
        re.fullmatch(r"-|-?[\d,]+(\.\d\d)?( h| min)?", v) for r in seen["rows"] for v in r[2:4]
    )
    assert any(note.startswith("PRR -") and "peak profit" in note for note in seen["notes"])


def test_leftover_kpi_files_and_pages_pass_the_working_copy_check(scored: Scored) -> None:
    """What the batch writes passes the check a next writer runs on uncommitted leftovers
    (committed, not quarantined); a KPI file under another day's name does not."""
    validator = data_file_validator(Limits(), fee_rate=0.001)
    kpi_files = sorted((scored.repo / "kpis").glob("*.yaml"))
    for path in [*kpi_files, scored.repo / "dashboard" / "index.html"]:
        validator(scored.repo, path.relative_to(scored.repo))
    misnamed = scored.repo / "kpis" / "2031-01-01.yaml"
    misnamed.write_bytes(kpi_files[0].read_bytes())
    try:
        with pytest.raises(DataError, match="name says otherwise"):
            validator(scored.repo, misnamed.relative_to(scored.repo))
    finally:
        misnamed.unlink()
