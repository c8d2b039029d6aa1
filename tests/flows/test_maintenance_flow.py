"""The maintenance flow for real: Prefect's test server, a Git repository with a bare remote,
snapshots of the recorded sample."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from git import Repo
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from cli.main import main
from flows.maintenance import maintenance
from market_maker.base.errors import RunFailed
from market_maker.config import Settings
from market_maker.context import RunContext
from market_maker.snapshots import SnapshotReader
from tests.store.test_maintenance import FIRST, LAST, SYMBOL, backfill


@pytest.fixture
def repo(settings: Settings) -> Path:
    backfill(RunContext.open(settings))
    return settings.resolve(settings.data_repository.base_path)


def latest_artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50
        )
    assert artifacts
    return str(max(artifacts, key=lambda a: a.created).data)


def test_by_default_everything_is_kept_and_the_repository_is_checked_and_reported(
    repo: Path, bare_remote: Path
) -> None:
    head = Repo(bare_remote).git.rev_parse("main")

    report = maintenance()

    assert report.ok and report.fsck_problems == [] and report.gc_ran
    assert report.pack_after_months is None and report.packs == [] and report.commits == []
    assert Repo(bare_remote).git.rev_parse("main") == head
    assert len(list((repo / "snapshots").rglob("*.json"))) == 72
    assert [d.name for d in report.derived] == [f"candle cache {SYMBOL}", "regime index"]
    assert [(r.month, r.loose_files) for r in report.sizes] == [("2023-06", 48), ("2023-07", 24)]
    markdown = latest_artifact("maintenance")
    assert "| ETH-USDT | 2023-06 | 48 |" in markdown
    assert "git fsck: no problem." in markdown


def test_old_months_are_packed_committed_and_pushed_and_still_read(
    repo: Path, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = SnapshotReader(repo).load_range(SYMBOL, FIRST, LAST)
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__PACK_AFTER_MONTHS", "1")

    report = maintenance()

    assert [(p.month, p.status, p.hours) for p in report.packs] == [
        ("2023-06", "packed", 48),
        ("2023-07", "packed", 24),
    ]
    assert report.pushed
    remote_files = Repo(bare_remote).git.ls_tree("-r", "--name-only", "main").splitlines()
    assert "snapshots/ETH-USDT/2023/06.zip" in remote_files
    assert not [f for f in remote_files if f.startswith("snapshots/") and f.endswith(".json")]
    assert SnapshotReader(repo).load_range(SYMBOL, FIRST, LAST) == before
    assert "| ETH-USDT | 2023-06 | packed | 48 |" in latest_artifact("maintenance")
    packs = list(Repo(repo).iter_commits(max_count=2))
    assert all("\nFlow-Run: " in c.message for c in packs)

    again = maintenance()

    assert again.packs == [] and again.ok


def test_a_packed_month_is_written_back_on_request(repo: Path) -> None:
    files = {p: p.read_bytes() for p in (repo / "snapshots").rglob("*.json")}
    maintenance(pack_after_months=1)

    report = maintenance(unpack=[f"{SYMBOL}:2023-06"], gc=False)

    assert [(p.month, p.status) for p in report.packs] == [("2023-06", "unpacked")]
    assert "\nFlow-Run: " in Repo(repo).head.commit.message
    assert {p: p.read_bytes() for p in (repo / "snapshots/ETH-USDT/2023/06").rglob("*.json")} == {
        p: raw for p, raw in files.items() if "/2023/06/" in p.as_posix()
    }


def test_a_damaged_object_fails_the_run_with_the_fsck_report_as_artifact(repo: Path) -> None:
    git = Repo(repo)
    blob = git.git.rev_parse("HEAD:snapshots/ETH-USDT/2023/06/30/07.json")
    loose = repo / ".git/objects" / blob[:2] / blob[2:]
    assert loose.is_file()
    loose.chmod(0o644)
    loose.write_bytes(b"not an object")

    with pytest.raises(RunFailed, match="git fsck"):
        maintenance(gc=False)

    assert "git fsck found" in latest_artifact("maintenance")


def test_a_bad_month_to_unpack_is_refused_as_a_parameter(repo: Path) -> None:
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="SYMBOL:YYYY-MM"):
        maintenance(unpack=["ETH-USDT/2023-06"])


def test_the_cli_prints_the_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["maintenance", "--pack-after-months", "1"])

    out = capsys.readouterr().out
    assert code == 0
    assert "packed ETH-USDT 2023-06: 48 hours" in out
    assert "size per symbol and month" in out
    assert datetime.now(UTC).year > 2023
