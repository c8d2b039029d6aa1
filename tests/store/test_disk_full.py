"""A full disk: one line naming the file being written, nothing half-written or replaced."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from git import Repo

from market_maker.base import atomic
from market_maker.base.errors import DiskFullError
from market_maker.grids.book import add_grid
from market_maker.store import GitDataStore
from tests.conftest import PROJECT_ROOT
from tests.grid_files import grid_data


def test_a_write_that_finds_no_space_names_its_file_and_replaces_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "eth-grid-1.yaml"
    source.write_text(yaml.safe_dump(grid_data()))
    root = tmp_path / "data-repo"

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(DiskFullError) as full:
        add_grid(root, source, fee_rate=0.001)

    target = root / "grids" / "eth-grid-1.yaml"
    assert str(full.value) == (
        f"no space left on the device writing {target} (No space left on device): nothing "
        "was replaced; free some space and run again"
    )
    assert list((root / "grids").iterdir()) == []  # neither the file nor its temporary file


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own (mounting needs the privilege: skipped without it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_command_on_a_full_disk_fails_in_one_line_naming_the_file(
    small_disk: Path, tmp_path: Path, bare_remote: Path
) -> None:
    base = small_disk / "data-repo"
    GitDataStore(base, remote_url=str(bare_remote))
    source = tmp_path / "eth-grid-1.yaml"
    source.write_text(yaml.safe_dump(grid_data()))
    fill(small_disk)
    own = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_MAKER_")}
    env = {
        **own,
        "MARKET_MAKER_PREFECT_SERVER": "ephemeral",
        "MARKET_MAKER_DATA_REPOSITORY__BASE_PATH": str(base),
        "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": str(bare_remote),
    }

    ran = subprocess.run(
        [sys.executable, "-m", "cli.main", "grid", "add", str(source)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert ran.returncode == 1
    lines = [line for line in ran.stderr.splitlines() if line.startswith("market-maker")]
    assert lines == [ran.stderr.strip().splitlines()[-1]]
    assert lines[0].startswith(f"market-maker grid: no space left on the device writing {base}/")
    assert lines[0].endswith("nothing was replaced; free some space and run again")
    assert "Traceback" not in ran.stderr
    (base / ".." / "filler").resolve().unlink()  # room for git to look
    assert not (base / "grids").exists()
    assert Repo(base).git.status("--porcelain", "--untracked-files=all") == ""
    assert not list(base.rglob("*.tmp"))
