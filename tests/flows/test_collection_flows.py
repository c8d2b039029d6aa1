"""Hourly collection, backfill and validation flows on the replay exchange, for real."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo
from prefect.exceptions import ParameterTypeError

from cli.main import main
from flows.backfill import backfill
from flows.hourly_collection import hourly_collection
from flows.validation import validate_snapshots
from market_maker.base.errors import DataError, ParameterError
from market_maker.config import Settings
from market_maker.snapshots import SnapshotReader, snapshot_relpath

SYMBOL = "ETH-USDT"


def hour(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def remote_head(remote: Path) -> str:
    return Repo(remote).git.rev_parse("main")


def test_hourly_collection_writes_commits_and_pushes_the_hours_snapshot(
    settings: Settings, bare_remote: Path
) -> None:
    result = hourly_collection(symbols=[SYMBOL], hour=hour("2023-07-10T12:00:00"))
    repo_path = settings.resolve(settings.data_repository.base_path)
    path = repo_path / snapshot_relpath(SYMBOL, hour("2023-07-10T12:00:00"))
    assert path.is_file()
    assert result.pushed is True
    log = Repo(bare_remote).git.log("--format=%s", "main")
    assert "hourly-collection: ETH-USDT 2023-07-10T12:00:00Z" in log
    snap = SnapshotReader(repo_path).load_snapshot(SYMBOL, hour("2023-07-10T12:00:00"))
    assert len(snap.minutes) == 60
    assert snap.config_version == settings.config_version


def test_collecting_the_same_hour_twice_changes_nothing_the_second_time(
    settings: Settings, bare_remote: Path
) -> None:
    target = hour("2023-07-10T12:00:00")
    hourly_collection(symbols=[SYMBOL], hour=target)
    repo = Repo(settings.resolve(settings.data_repository.base_path))
    head, remote = repo.head.commit.hexsha, remote_head(bare_remote)
    path = repo.working_dir / snapshot_relpath(SYMBOL, target)
    before = Path(path).read_bytes()

    second = hourly_collection(symbols=[SYMBOL], hour=target)

    assert second.commit is None
    assert second.lines() == [f"{SYMBOL} 2023-07-10T12:00:00Z: unchanged"]
    assert repo.head.commit.hexsha == head
    assert remote_head(bare_remote) == remote
    assert Path(path).read_bytes() == before
    assert not repo.is_dirty(untracked_files=True)


def test_without_an_hour_collection_takes_the_last_closed_hour_of_the_replay_clock(
    settings: Settings,
) -> None:
    result = hourly_collection(symbols=[SYMBOL])
    # The sample ends at 2023-08-31T23:59; the replay clock stands at its end.
    assert result.hour == hour("2023-08-31T23:00:00")
    assert result.lines() == [f"{SYMBOL} 2023-08-31T23:00:00Z: written"]


def test_a_replay_clock_set_in_config_moves_the_last_closed_hour(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_MAKER_REPLAY__NOW", "2023-08-01T10:17:00Z")
    assert hourly_collection(symbols=[SYMBOL]).hour == hour("2023-08-01T09:00:00")


def test_an_hour_not_on_the_hour_is_rejected_as_a_parameter(settings: Settings) -> None:
    # 12:30 starts a 30-minute period, not one of the configured 60: the flow refuses it.
    with pytest.raises(ParameterError, match=r"hour 2023-07-10T12:30:00Z is not on the hour"):
        hourly_collection(symbols=[SYMBOL], hour=datetime(2023, 7, 10, 12, 30, tzinfo=UTC))
    # 12:07 starts no collection period at all: the parameter's type refuses it.
    with pytest.raises(ParameterTypeError, match="does not start a collection period"):
        hourly_collection(symbols=[SYMBOL], hour=datetime(2023, 7, 10, 12, 7, tzinfo=UTC))


def test_the_command_names_the_parameter_that_starts_no_period_in_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    assert main(["collect", "--symbol", SYMBOL, "--hour", "2023-07-10T12:07Z"]) == 2
    assert capsys.readouterr().err.strip() == (
        "market-maker collect: hour 2023-07-10T12:07:00Z is not on the hour "
        "(snapshots.period_minutes: 60)"
    )


def test_a_malformed_symbol_is_rejected_as_a_parameter(settings: Settings) -> None:
    with pytest.raises(ParameterTypeError):
        hourly_collection(symbols=["eth/usdt"], hour=hour("2023-07-10T12:00:00"))


def test_backfilling_an_overlapping_range_writes_only_the_new_hours(
    settings: Settings, bare_remote: Path
) -> None:
    first = backfill(
        symbol=SYMBOL, start=hour("2023-07-02T00:00:00"), end=hour("2023-07-02T11:00:00")
    )
    assert first.written == 12
    repo = Repo(settings.resolve(settings.data_repository.base_path))
    earlier = {
        h: (
            Path(repo.working_dir) / snapshot_relpath(SYMBOL, hour(f"2023-07-02T{h:02d}:00:00"))
        ).read_bytes()
        for h in range(12)
    }

    second = backfill(
        symbol=SYMBOL,
        start=hour("2023-07-01T18:00:00"),
        end=hour("2023-07-02T17:00:00"),
        chunk_hours=5,
    )

    assert second.written == 12
    assert second.skipped == 12
    for h, content in earlier.items():
        path = Path(repo.working_dir) / snapshot_relpath(SYMBOL, hour(f"2023-07-02T{h:02d}:00:00"))
        assert path.read_bytes() == content
    # Each file was added exactly once in history: nothing was rewritten.
    added = repo.git.log("--diff-filter=M", "--name-only", "--format=").split()
    assert added == []
    assert remote_head(bare_remote) == repo.head.commit.hexsha


def test_backfilling_the_same_range_again_changes_nothing(settings: Settings) -> None:
    span = {
        "symbol": SYMBOL,
        "start": hour("2023-07-03T00:00:00"),
        "end": hour("2023-07-03T05:00:00"),
    }
    backfill(**span)
    repo = Repo(settings.resolve(settings.data_repository.base_path))
    head = repo.head.commit.hexsha
    again = backfill(**span)
    assert again.written == 0
    assert again.skipped == 6
    assert again.commits == []
    assert repo.head.commit.hexsha == head


def test_backfill_restores_a_damaged_committed_snapshot_and_quarantines_the_damage(
    settings: Settings,
) -> None:
    span = {
        "symbol": SYMBOL,
        "start": hour("2023-07-04T00:00:00"),
        "end": hour("2023-07-04T03:00:00"),
    }
    backfill(**span)
    base = settings.resolve(settings.data_repository.base_path)
    relative = snapshot_relpath(SYMBOL, hour("2023-07-04T02:00:00"))
    broken = base / relative
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 2])

    again = backfill(**span)

    assert again.written == 0
    assert broken.read_bytes() == good
    assert SnapshotReader(base).is_valid(SYMBOL, hour("2023-07-04T02:00:00"))
    (kept,) = (base / "quarantine").glob(f"*/{relative.as_posix()}")
    assert kept.read_bytes() == good[: len(good) // 2]


def test_backfill_rewrites_an_invalid_snapshot_that_was_never_committed(
    settings: Settings,
) -> None:
    span = {
        "symbol": SYMBOL,
        "start": hour("2023-07-04T00:00:00"),
        "end": hour("2023-07-04T03:00:00"),
    }
    base = settings.resolve(settings.data_repository.base_path)
    backfill(**{**span, "end": hour("2023-07-04T01:00:00")})
    broken = base / snapshot_relpath(SYMBOL, hour("2023-07-04T02:00:00"))
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"schema_version": "2.0", "symbol": "ETH-USDT"')

    again = backfill(**span)

    assert again.written == 2
    assert SnapshotReader(base).is_valid(SYMBOL, hour("2023-07-04T02:00:00"))


def test_backfill_reports_hours_not_yet_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_MAKER_REPLAY__NOW", "2023-07-05T03:30:00Z")
    result = backfill(
        symbol=SYMBOL, start=hour("2023-07-05T00:00:00"), end=hour("2023-07-05T05:00:00")
    )
    assert result.written == 3
    assert result.not_closed == 3


def test_validate_names_the_corrupted_file_and_changes_nothing(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill(symbol=SYMBOL, start=hour("2023-07-06T00:00:00"), end=hour("2023-07-06T03:00:00"))
    base = settings.resolve(settings.data_repository.base_path)
    repo = Repo(base)
    head = repo.head.commit.hexsha
    corrupted = base / snapshot_relpath(SYMBOL, hour("2023-07-06T01:00:00"))
    text = corrupted.read_text()
    corrupted.write_text(text.replace('"schema_version": "2.0"', '"schema_version": "9.0"'))

    code = main(["validate", "--symbol", SYMBOL])

    out = capsys.readouterr().out
    assert code == 1
    assert str(corrupted) in out
    assert "schema_version" in out and "newer" in out
    assert repo.head.commit.hexsha == head
    assert [item.a_path for item in repo.index.diff(None)] == [str(corrupted.relative_to(base))]


def test_validate_over_a_complete_range_exits_zero(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill(symbol=SYMBOL, start=hour("2023-07-07T00:00:00"), end=hour("2023-07-07T02:00:00"))
    code = main(
        [
            "validate",
            "--symbol",
            SYMBOL,
            "--start",
            "2023-07-07T00:00Z",
            "--end",
            "2023-07-07T02:00Z",
        ]
    )
    assert code == 0
    assert "3 file(s) checked, 0 error(s)" in capsys.readouterr().out


def test_validate_reports_a_missing_hour_inside_the_range(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill(symbol=SYMBOL, start=hour("2023-07-08T00:00:00"), end=hour("2023-07-08T02:00:00"))
    span = {
        "symbol": SYMBOL,
        "start": hour("2023-07-08T00:00:00"),
        "end": hour("2023-07-08T03:00:00"),
    }
    result = validate_snapshots(**span, fail_on_error=False)
    assert not result.ok
    assert any("08/03.json" in str(e) and "no snapshot" in str(e) for e in result.errors)
    # By default the run fails, so a CI job waiting on it fails too.
    with pytest.raises(DataError, match=r"08/03\.json"):
        validate_snapshots(**span)
