"""The data repository's working copy: what an interrupted run left in the managed folders.

A run killed mid-way may leave Git lock files, a half-done rebase, temporary files of atomic
writes, and written but uncommitted files. The next writer repairs Git, keeps the valid files
for its commit and moves the invalid ones aside; an operator command undoes its own writes
when it fails.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from git import GitCommandError, Repo

from market_maker.base import redaction
from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError

log = logging.getLogger(__name__)

# The folders the system writes; everything uncommitted in them is reconciled by the next
# writer. Invalid files are moved to QUARANTINE_DIR (ignored by Git), never deleted.
MANAGED_DIRS = (
    "snapshots",
    "metrics",
    "grids",
    "exit_states",
    "decisions",
    "kpis",
    "dashboard",
    "backtests",
    "digests",
)
QUARANTINE_DIR = "quarantine"
GITIGNORE_LINES = (
    "# temporary files of atomic writes",
    ".*.tmp",
    "# files a run found invalid: moved aside for the operator, never committed",
    f"/{QUARANTINE_DIR}/",
)
# Git's own lock files: left behind only by a git process that was killed.
GIT_LOCKS = ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "ORIG_HEAD.lock")


class Validator:
    """Checks one uncommitted file under the managed folders: raises DataError when invalid;
    ``immutable`` kinds are never accepted once committed (a change to them is invalid)."""

    def __call__(self, root: Path, relative: Path) -> None:  # pragma: no cover - protocol
        raise NotImplementedError

    def immutable(self, relative: Path) -> bool:
        return False


@dataclass
class Reconciled:
    """What reconciling the working copy found."""

    pending: list[Path] = field(default_factory=list)  # valid, committed with the run
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    restored: list[str] = field(default_factory=list)  # committed files put back
    recovered: list[str] = field(default_factory=list)  # Git state repaired

    def lines(self) -> list[str]:
        out = [f"recovered: {r}" for r in self.recovered]
        if self.pending:
            out.append(
                f"{len(self.pending)} file(s) written before an interruption, validated, "
                "committed with this run"
            )
        out += [f"quarantined {path}: {why}" for path, why in self.quarantined]
        out += [f"restored {path} from the last commit" for path in self.restored]
        return out


class WorkingCopy:
    """The working tree of a repository at ``path``, as the store's writers leave it."""

    def __init__(self, repo: Repo, path: Path):
        self.repo = repo
        self.path = path

    def ensure_gitignore(self) -> Path:
        """The repository's .gitignore holds every line the store relies on."""
        path = self.path / ".gitignore"
        text = path.read_text() if path.exists() else ""
        missing = [line for line in GITIGNORE_LINES if line not in text.splitlines()]
        if missing:
            prefix = "" if not text or text.endswith("\n") else "\n"
            write_atomic(path, (text + prefix + "\n".join(missing) + "\n").encode())
        return path

    def recover(self) -> list[str]:
        """Repair what a killed Git process left: its lock files, a half-done rebase.

        Call with the store's lock held (:meth:`GitDataStore.locked`): then no other process
        of ours runs Git here, so any Git lock file is stale.
        """
        done = []
        git_dir = Path(self.repo.git_dir)
        for name in ("rebase-merge", "rebase-apply"):
            if (git_dir / name).exists():
                with contextlib.suppress(GitCommandError):
                    self.repo.git.rebase("--abort")
                if (git_dir / name).exists():
                    shutil.rmtree(git_dir / name)
                done.append(f"an interrupted rebase was aborted ({name})")
        stale = [git_dir / name for name in GIT_LOCKS]
        stale += list((git_dir / "refs").rglob("*.lock"))
        for lock in stale:
            if lock.exists():
                lock.unlink()
                done.append(f"stale Git lock {lock.relative_to(git_dir)} removed")
        for line in done:
            log.warning("data repository %s: %s", self.path, line)
        return done

    def reconcile(self, validate: Validator) -> Reconciled:
        """Validate every uncommitted file under the managed folders.

        Valid ones are for the next commit (``pending``); invalid ones are moved to
        ``quarantine/`` and reported; committed files that are missing or invalid are
        restored from the last commit. Leftover temporary files of atomic writes are removed.
        Call with the store's lock held.
        """
        report = Reconciled(recovered=self.recover())
        self._remove_temporary_files()
        if self.repo.head.is_valid():
            self.repo.git.reset("-q")  # unstage what a killed commit left staged
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for status, relative in self._dirty():
            tracked = status != "??"
            path = self.path / relative
            if not path.exists():
                self._restore(relative)
                report.restored.append(relative.as_posix())
                continue
            why = None
            if tracked and validate.immutable(relative):
                why = "a committed record was changed; records are immutable"
            else:
                try:
                    validate(self.path, relative)
                except DataError as exc:
                    why = redaction.redact(str(exc).replace(str(self.path) + "/", ""))
            if why is None:
                report.pending.append(path)
                continue
            self._quarantine(relative, stamp)
            report.quarantined.append((relative.as_posix(), why))
            if tracked:
                self._restore(relative)
                report.restored.append(relative.as_posix())
        for path, why in report.quarantined:
            log.warning("quarantined %s (moved to %s/%s/): %s", path, QUARANTINE_DIR, stamp, why)
        if report.pending:
            log.warning(
                "%d file(s) left uncommitted by an interrupted run are valid and are committed "
                "with this run",
                len(report.pending),
            )
        return report

    def _dirty(self) -> list[tuple[str, Path]]:
        """(status, path) of every changed or untracked file under the managed folders."""
        out = self.repo.git.status(
            "--porcelain=v1", "-z", "--untracked-files=all", "--", *MANAGED_DIRS
        )
        entries = []
        for item in out.split("\0"):
            if len(item) > 3:
                entries.append((item[:2].strip() or "M", Path(item[3:])))
        return entries

    def _restore(self, relative: Path) -> None:
        if self.repo.head.is_valid():
            with contextlib.suppress(GitCommandError):
                self.repo.git.checkout("HEAD", "--", relative.as_posix())

    def _quarantine(self, relative: Path, stamp: str) -> None:
        target = self.path / QUARANTINE_DIR / stamp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.path / relative, target)

    def _remove_temporary_files(self) -> None:
        for folder in MANAGED_DIRS:
            for tmp in (self.path / folder).rglob(".*.tmp"):
                log.warning("removing %s, left by an interrupted write", tmp.relative_to(self.path))
                tmp.unlink()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing for an operator command: on any error, every file under the managed
        folders is put back as it was when the transaction began."""
        before = {
            relative: (self.path / relative).read_bytes()
            for _, relative in self._dirty()
            if (self.path / relative).is_file()
        }
        try:
            yield
        except BaseException:
            self._roll_back(before)
            raise

    def _roll_back(self, before: dict[Path, bytes]) -> None:
        if self.repo.head.is_valid():
            self.repo.git.reset("-q")  # unstage first: a file added, then refused, is new
        for status, relative in self._dirty():
            path = self.path / relative
            if relative in before:
                if not path.exists() or path.read_bytes() != before[relative]:
                    write_atomic(path, before[relative])
            elif status == "??":
                path.unlink(missing_ok=True)
            else:
                self._restore(relative)
        log.info("rolled back the working copy of %s", self.path)
