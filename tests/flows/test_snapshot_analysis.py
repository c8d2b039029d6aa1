"""The snapshot-analysis flow and the analyze/regimes commands on backfilled sample data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo

from cli.main import main
from flows.backfill import backfill
from flows.snapshot_analysis import snapshot_analysis
from market_maker.config import Settings
from market_maker.regime import files
from market_maker.regime.model import MetricsFile, metrics_relpath

SYMBOL = "ETH-USDT"
# ETH broke out of its July range on the afternoon of 2023-07-13: the span holds RANGE_OK,
# RANGE_WEAK and eight TREND hours (16:00-23:00).
FIRST, LAST = "2023-07-13T12:00:00", "2023-07-13T23:00:00"


def hour(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def repo_of(settings: Settings) -> Repo:
    return Repo(settings.resolve(settings.data_repository.base_path))


def metrics_path(settings: Settings, at: datetime) -> Path:
    return Path(repo_of(settings).working_dir) / metrics_relpath(SYMBOL, at)


def stored(settings: Settings, first: str, last: str) -> list[MetricsFile]:
    base = Path(repo_of(settings).working_dir) / "metrics" / SYMBOL
    every = [files.read(p) for p in sorted(base.glob("*.yaml"))]
    return [m for m in every if hour(first) <= m.hour <= hour(last)]


def test_analysing_an_hour_writes_commits_and_pushes_its_metrics_file(
    settings: Settings, bare_remote: Path
) -> None:
    target = hour("2023-07-13T18:00:00")
    backfill(symbol=SYMBOL, start=target, end=target)

    result = snapshot_analysis(symbol=SYMBOL, hour=target)

    path = metrics_path(settings, target)
    assert path.relative_to(repo_of(settings).working_dir).as_posix() == (
        "metrics/ETH-USDT/2023-07-13-18.yaml"
    )
    metrics = files.read(path)
    assert metrics.verdict == "TREND" and result.verdicts == ["TREND"]
    assert metrics.snapshot == "snapshots/ETH-USDT/2023/07/13/18.json"
    assert metrics.config_version == settings.config_version
    assert (result.written, result.pushed) == (1, True)
    remote = Repo(bare_remote)
    assert remote.git.rev_parse("main") == result.commit == repo_of(settings).head.commit.hexsha
    assert remote.git.log("-1", "--format=%s", "main") == (
        "snapshot-analysis: ETH-USDT 2023-07-13T18:00:00Z"
    )
    assert "metrics/ETH-USDT/2023-07-13-18.yaml" in remote.git.show("--name-only", "main")


def test_analysing_the_same_hour_again_changes_nothing(
    settings: Settings, bare_remote: Path
) -> None:
    target = hour("2023-07-13T15:00:00")
    backfill(symbol=SYMBOL, start=target, end=target)
    snapshot_analysis(symbol=SYMBOL, hour=target)
    repo = repo_of(settings)
    head, content = repo.head.commit.hexsha, metrics_path(settings, target).read_bytes()

    again = snapshot_analysis(symbol=SYMBOL, hour=target)

    assert (again.written, again.unchanged, again.commit) == (0, 1, None)
    assert repo.head.commit.hexsha == head == Repo(bare_remote).git.rev_parse("main")
    assert metrics_path(settings, target).read_bytes() == content
    assert not repo.is_dirty(untracked_files=True)


def test_a_range_writes_one_metrics_file_per_hour_in_one_commit(
    settings: Settings, bare_remote: Path
) -> None:
    backfill(symbol=SYMBOL, start=hour(FIRST), end=hour(LAST))
    remote = Repo(bare_remote)
    commits_before = int(remote.git.rev_list("--count", "main"))

    result = snapshot_analysis(symbol=SYMBOL, start=hour(FIRST), end=hour(LAST))

    assert (result.hours, result.written) == (12, 12)
    assert int(remote.git.rev_list("--count", "main")) == commits_before + 1
    changed = remote.git.show("--name-only", "--format=", "main").split()
    assert changed == [f"metrics/ETH-USDT/2023-07-13-{h:02d}.yaml" for h in range(12, 24)]
    verdicts = [str(m.verdict) for m in stored(settings, FIRST, LAST)]
    assert verdicts == result.verdicts
    assert verdicts.count("TREND") == 8


def test_the_cli_analyses_a_range_and_queries_its_trend_periods_as_json(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill(symbol=SYMBOL, start=hour(FIRST), end=hour(LAST))
    capsys.readouterr()

    code = main(["analyze", "--symbol", SYMBOL, "--start", FIRST + "Z", "--end", LAST + "Z"])

    out = capsys.readouterr().out
    assert code == 0
    assert "metrics files: 12 written, 0 unchanged, 0 kept" in out
    trend = [m for m in stored(settings, FIRST, LAST) if m.verdict == "TREND"]
    confidences = [m.confidence for m in trend if m.confidence is not None]

    code = main(["regimes", "--symbol", SYMBOL, "--verdict", "TREND", "--format", "json"])

    assert code == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "verdict": "TREND",
            "start": "2023-07-13T16:00:00Z",
            "end": "2023-07-13T23:00:00Z",
            "hours": 8,
            "mean_confidence": round(sum(confidences) / len(confidences), 4),
        }
    ]

    code = main(["regimes", "--symbol", SYMBOL, "--transitions", "--format", "json"])

    assert code == 0
    changes = json.loads(capsys.readouterr().out)
    assert [(t["hour"], t["to_verdict"]) for t in changes][-1] == ("2023-07-13T16:00:00Z", "TREND")


def test_without_an_hour_the_last_closed_hour_of_the_replay_clock_is_analysed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = hour("2023-07-13T19:00:00")
    backfill(symbol=SYMBOL, start=target, end=target)
    monkeypatch.setenv("MARKET_MAKER_REPLAY__NOW", "2023-07-13T20:17:00Z")

    result = snapshot_analysis(symbol=SYMBOL)

    assert result.summary[0].startswith("ETH-USDT 2023-07-13T19:00:00Z: TREND")
    assert metrics_path(settings, target).is_file()


def test_a_range_with_an_invalid_snapshot_names_it_and_exits_non_zero(
    settings: Settings, bare_remote: Path, capsys: pytest.CaptureFixture
) -> None:
    first, last = hour("2023-07-13T12:00:00"), hour("2023-07-13T14:00:00")
    backfill(symbol=SYMBOL, start=first, end=last)
    repo = repo_of(settings)
    damaged = "snapshots/ETH-USDT/2023/07/13/13.json"
    snapshot = json.loads((Path(repo.working_dir) / damaged).read_text())
    snapshot["minutes"] = snapshot["minutes"][:59]  # a minute short
    (Path(repo.working_dir) / damaged).write_text(json.dumps(snapshot))
    repo.git.commit("-am", "a snapshot damaged by hand")

    code = main(["analyze", "--symbol", SYMBOL, "--start", "2023-07-13T12:00Z",
                 "--end", "2023-07-13T14:00Z"])  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 1
    assert "2 hours analysed" in out and "1 invalid snapshots" in out
    [named] = [line for line in out.splitlines() if "invalid snapshot " in line]
    assert named.startswith(f"  invalid snapshot {damaged}: ") and "minute" in named
    (line,) = [line for line in err.splitlines() if line.startswith("market-maker")]
    assert line.startswith(f"market-maker analyze: 1 invalid snapshot(s) not analysed: {damaged}: ")
    # The valid hours are written and committed all the same.
    assert [m.hour for m in stored(settings, "2023-07-13T12:00:00", "2023-07-13T14:00:00")] == [
        first,
        last,
    ]
