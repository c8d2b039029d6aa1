"""The Git data repository: "Git as database", one commit per flow run, pushed to a remote."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from git import Git, GitCommandError, Repo

from market_maker.config import Settings
from market_maker.errors import PushError, StoreError

log = logging.getLogger(__name__)

LOCK_FILE = "market-maker.lock"
# A missing credential must fail at once, never wait for a prompt no one answers.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}
STATE_DIR = "market-maker"
GITIGNORE = "# temporary files of atomic writes\n.*.tmp\n"
_UNREACHABLE = re.compile(
    r"could not read from remote|does not appear to be a git repository|unable to access|"
    r"could not resolve host|connection (refused|timed out)|"
    r"repository .* not found",
    re.IGNORECASE,
)
_REJECTED = re.compile(r"\[rejected\]|non-fast-forward|fetch first|failed to push", re.IGNORECASE)


@dataclass(frozen=True)
class PushResult:
    pushed: bool
    detail: str = ""


class GitDataStore:
    """A working copy of the data repository.

    Writers hold :meth:`locked` for the whole read-write-commit-push cycle so
    two runs never interleave. History is only ever appended: no force push,
    no amend; a rejected push is rebased (local, unpushed commits only) and
    pushed again; an unreachable remote keeps the commit for the next run.
    """

    def __init__(
        self,
        path: Path,
        *,
        remote_url: str | None = None,
        branch: str = "main",
        author_name: str = "market-maker",
        author_email: str = "market-maker@localhost",
        lock_timeout: float = 600.0,
    ):
        self.path = path
        self.remote_url = remote_url
        self.branch = branch
        self.author_name = author_name
        self.author_email = author_email
        self.lock_timeout = lock_timeout
        self.repo = self._open()

    @classmethod
    def from_settings(cls, settings: Settings) -> GitDataStore:
        cfg = settings.data_repository
        remote = cfg.remote_url
        if remote and _is_local_path(remote):
            remote = str(settings.resolve(Path(remote)))
        return cls(
            settings.resolve(cfg.base_path),
            remote_url=remote,
            branch=cfg.branch,
            author_name=cfg.author_name,
            author_email=cfg.author_email,
            lock_timeout=cfg.lock_timeout_seconds,
        )

    # -- opening --------------------------------------------------------------

    def _open(self) -> Repo:
        if (self.path / ".git").exists():
            repo = Repo(self.path)
        elif self.remote_url and self._remote_reachable():
            log.info("cloning data repository %s into %s", self.remote_url, self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repo = Repo.clone_from(self.remote_url, self.path, env=NO_PROMPT)
        else:
            if self.remote_url:
                log.warning("remote %s unreachable: starting a local repository", self.remote_url)
            self.path.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(self.path, initial_branch=self.branch)
        repo.git.update_environment(**NO_PROMPT)
        # Write the config only when it changes: opening happens outside the lock, and
        # two runs rewriting .git/config at once fail on its lock file.
        with repo.config_reader(config_level="repository") as reader:
            identity = (
                str(reader.get_value("user", "name", "")),
                str(reader.get_value("user", "email", "")),
            )
        if identity != (self.author_name, self.author_email):
            with repo.config_writer() as cfg:
                cfg.set_value("user", "name", self.author_name)
                cfg.set_value("user", "email", self.author_email)
        if self.remote_url:
            if "origin" in [r.name for r in repo.remotes]:
                if repo.remotes.origin.url != self.remote_url:
                    repo.remotes.origin.set_url(self.remote_url)
            else:
                repo.create_remote("origin", self.remote_url)
        self._checkout_branch(repo)
        return repo

    def _checkout_branch(self, repo: Repo) -> None:
        if not repo.head.is_valid():
            # Empty clone or fresh init: point HEAD at the configured branch.
            repo.git.symbolic_ref("HEAD", f"refs/heads/{self.branch}")
        elif repo.active_branch.name != self.branch:
            if self.branch in repo.heads:
                repo.git.checkout(self.branch)
            else:
                repo.git.checkout("-b", self.branch)

    def _remote_reachable(self) -> bool:
        git = Git()
        git.update_environment(**NO_PROMPT)
        try:
            git.ls_remote(self.remote_url)
            return True
        except GitCommandError:
            return False

    @property
    def state_dir(self) -> Path:
        """For process state that must survive runs but never be committed."""
        path = Path(self.repo.git_dir) / STATE_DIR
        path.mkdir(exist_ok=True)
        return path

    # -- locking --------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the working copy (an advisory file lock inside ``.git``)."""
        lock_path = Path(self.repo.git_dir) / LOCK_FILE
        deadline = time.monotonic() + self.lock_timeout
        with open(lock_path, "w") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"data repository {self.path} is locked by another run "
                            f"(waited {self.lock_timeout:.0f}s)"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading the remote ---------------------------------------------------

    def sync(self) -> bool:
        """Bring the local branch up to date with the remote before writing.

        Returns False (and logs a warning) when the remote cannot be reached:
        the run goes on locally and a later run pushes.
        """
        if not self.remote_url:
            return False
        try:
            self.repo.git.fetch("origin")
        except GitCommandError as exc:
            log.warning("data repository remote unreachable, working locally: %s", _short(exc))
            return False
        remote_ref = f"origin/{self.branch}"
        if remote_ref not in [r.name for r in self.repo.remotes.origin.refs]:
            return True
        if not self.repo.head.is_valid():
            self.repo.git.checkout("-B", self.branch, remote_ref)
            return True
        self._rebase_onto(remote_ref)
        return True

    def _rebase_onto(self, remote_ref: str) -> None:
        """Replay local, unpushed commits on top of the remote (only when it moved on)."""
        if int(self.repo.git.rev_list("--count", f"HEAD..{remote_ref}")) == 0:
            return
        try:
            # --autostash: a file edited by hand (or damaged) in the working copy
            # must not block the run; backfill repairs it from the source.
            self.repo.git.rebase("--autostash", remote_ref)
        except GitCommandError as exc:
            with contextlib.suppress(GitCommandError):
                self.repo.git.rebase("--abort")
            raise StoreError(
                f"data repository {self.path}: local commits conflict with {remote_ref}; "
                f"resolve by hand (nothing was lost): {_short(exc)}"
            ) from None

    # -- writing --------------------------------------------------------------

    def ensure_gitignore(self) -> Path:
        path = self.path / ".gitignore"
        if not path.exists():
            path.write_text(GITIGNORE)
        return path

    def commit(self, message: str, paths: Sequence[Path]) -> str | None:
        """Commit exactly ``paths`` (already validated); None when nothing changed."""
        rel = [str(Path(p).resolve().relative_to(self.path.resolve())) for p in paths]
        if not rel:
            return None
        self.repo.git.add("--", *rel)
        if self.repo.head.is_valid():
            staged = self.repo.git.diff("--cached", "--name-only", "--", *rel)
        else:
            staged = self.repo.git.diff("--cached", "--name-only")
        if not staged.strip():
            return None
        self.repo.git.commit("-m", message, "--", *rel)
        sha = self.repo.head.commit.hexsha
        log.info("committed %s to the data repository: %s", sha[:10], message.splitlines()[0])
        return sha

    def push(self, *, attempts: int = 3) -> PushResult:
        """Push the branch; rebase and retry when the remote moved on.

        An unreachable remote is not an error: the commit stays local, a
        warning is logged and the next run pushes it.
        """
        if not self.remote_url:
            return PushResult(False, "no remote configured")
        if not self.repo.head.is_valid():
            return PushResult(False, "nothing to push")
        for attempt in range(1, attempts + 1):
            try:
                self.repo.git.push("origin", f"{self.branch}:{self.branch}")
                return PushResult(True, f"pushed {self.branch} to {self.remote_url}")
            except GitCommandError as exc:
                detail = _short(exc)
                if _UNREACHABLE.search(detail):
                    log.warning(
                        "push to %s failed, remote unreachable; %d commit(s) stay local "
                        "and the next run pushes them: %s",
                        self.remote_url,
                        self.unpushed_count(),
                        detail,
                    )
                    return PushResult(False, f"remote unreachable: {detail}")
                if not _REJECTED.search(detail) or attempt == attempts:
                    raise PushError(f"push to {self.remote_url} failed: {detail}") from None
                log.info("push rejected (the remote moved on); rebasing, attempt %d", attempt)
                self.repo.git.fetch("origin")
                self._rebase_onto(f"origin/{self.branch}")
        raise PushError(f"push to {self.remote_url} failed after {attempts} attempts")

    def unpushed_count(self) -> int:
        if not self.repo.head.is_valid():
            return 0
        remote_ref = f"origin/{self.branch}"
        try:
            return int(self.repo.git.rev_list("--count", f"{remote_ref}..HEAD"))
        except GitCommandError:
            return int(self.repo.git.rev_list("--count", "HEAD"))

    def head(self) -> str | None:
        return self.repo.head.commit.hexsha if self.repo.head.is_valid() else None


def _is_local_path(url: str) -> bool:
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)


def _short(exc: GitCommandError) -> str:
    text = " ".join(str(exc.stderr or exc).split())
    return text.removeprefix("stderr: ")[:400]
