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
from urllib.parse import unquote, urlsplit, urlunsplit

from git import Git, GitCommandError, Repo

from market_maker.base import redaction
from market_maker.base.errors import PushError, StoreError
from market_maker.config import Settings
from market_maker.store.embedded_remote import ensure_embedded_remote
from market_maker.store.holder import Holder, read_holder, write_holder
from market_maker.store.location import STATE_DIR, check_base_path
from market_maker.store.working_copy import Reconciled, Validator, WorkingCopy

log = logging.getLogger(__name__)

LOCK_FILE = "market-maker.lock"
HOLDER_FILE = "lock-holder.json"
# A missing credential must fail at once, never wait for a prompt no one answers.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}
# Credentials in an http(s) remote URL never reach .git/config: the remote is written down
# without them, and git gets them per command from this helper, which reads them from that
# command's environment. The empty helper first drops any configured one (which could
# store them, in ~/.git-credentials for instance).
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    '"$MM_DATA_REMOTE_USERNAME" "$MM_DATA_REMOTE_PASSWORD"; }; f'
)
WAIT_LOG_SECONDS = 10.0


_UNREACHABLE = re.compile(
    r"could not read from remote|does not appear to be a git repository|unable to access|"
    r"could not resolve host|connection (refused|timed out)|"
    r"repository .* not found|no answer within",
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
        network_timeout: float = 60.0,
    ):
        self.path = path
        self.remote_url = remote_url
        # What git is given and writes down: the URL without credentials, which come in
        # through the environment of each git command.
        self._remote, credentials = _without_credentials(remote_url)
        self._git_env = {**NO_PROMPT, **credentials}
        self.branch = branch
        self.author_name = author_name
        self.author_email = author_email
        self.lock_timeout = lock_timeout
        self.network_timeout = network_timeout
        # Valid files left uncommitted by an interrupted run: committed with the next commit.
        self.pending: list[Path] = []
        # Why the remote is not asked again in this run: it did not answer once already, and
        # every fetch or push would wait the whole network timeout again.
        self.silent: str | None = None
        self.previous_holder: Holder | None = None
        self.repo = self._open()
        self.working_copy = WorkingCopy(self.repo, self.path)

    @classmethod
    def from_settings(cls, settings: Settings) -> GitDataStore:
        cfg = settings.data_repository
        # Before anything is created (the embedded remote included): a working copy in the
        # project's checkout or in another repository would commit into it.
        check_base_path(settings.resolve(cfg.base_path), settings.project_root)
        remote = cfg.remote_url
        if remote and _is_local_path(remote):
            remote = str(ensure_embedded_remote(settings) or settings.resolve(Path(remote)))
        return cls(
            settings.resolve(cfg.base_path),
            remote_url=remote,
            branch=cfg.branch,
            author_name=cfg.author_name,
            author_email=cfg.author_email,
            lock_timeout=cfg.lock_timeout_seconds,
            network_timeout=cfg.network_timeout_seconds,
        )

    @property
    def remote_label(self) -> str:
        """The remote as it may be shown: credentials in the URL are masked."""
        return redaction.redact(redaction.mask_url(self.remote_url or "(none)"))

    # -- opening --------------------------------------------------------------

    def _open(self) -> Repo:
        if (self.path / ".git").exists():
            repo = Repo(self.path)
        elif self.remote_url:
            unreachable = self._remote_unreachable()
            if unreachable:
                # Starting empty here would fork the data's history from the remote's.
                raise StoreError(
                    f"the data repository's remote {self.remote_label} cannot be reached and "
                    f"there is no working copy at {self.path} yet: nothing was written "
                    f"(data_repository.remote_url): {unreachable}"
                )
            log.info("cloning data repository %s into %s", self.remote_label, self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                repo = Repo.clone_from(
                    self._remote,
                    self.path,
                    env=self._git_env,
                    kill_after_timeout=self.network_timeout,
                )
            except GitCommandError as exc:
                raise StoreError(
                    f"cloning the data repository from {self.remote_label} failed: {_short(exc)}"
                ) from None
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(self.path, initial_branch=self.branch)
        repo.git.update_environment(**self._git_env)
        # Marks the repository as the store's own (store.location tells it from others).
        (Path(repo.git_dir) / STATE_DIR).mkdir(exist_ok=True)
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
        if self._remote:
            if "origin" in [r.name for r in repo.remotes]:
                if repo.remotes.origin.url != self._remote:
                    repo.remotes.origin.set_url(self._remote)
            else:
                repo.create_remote("origin", self._remote)
        self._checkout_branch(repo)
        return repo

    def _checkout_branch(self, repo: Repo) -> None:
        if not repo.head.is_valid():
            # Empty clone or fresh init: point HEAD at the configured branch (written only when
            # it changes: opening writes nothing it need not).
            if repo.git.symbolic_ref("HEAD") != f"refs/heads/{self.branch}":
                repo.git.symbolic_ref("HEAD", f"refs/heads/{self.branch}")
        elif repo.active_branch.name != self.branch:
            if self.branch in repo.heads:
                repo.git.checkout(self.branch)
            else:
                repo.git.checkout("-b", self.branch)

    def _remote_unreachable(self) -> str | None:
        """Why the remote cannot be used, or None when it answers (an empty one included)."""
        git = Git()
        git.update_environment(**self._git_env)
        try:
            git.ls_remote(self._remote, kill_after_timeout=self.network_timeout)
        except GitCommandError as exc:
            return _short(exc)
        return None

    @property
    def state_dir(self) -> Path:
        """For process state that must survive runs but never be committed."""
        path = Path(self.repo.git_dir) / STATE_DIR
        path.mkdir(exist_ok=True)
        return path

    # -- locking --------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, who: str = "") -> Iterator[None]:
        """Exclusive use of the working copy: an advisory file lock inside ``.git``.

        The kernel releases it when its holder dies, however it dies. A waiting run logs
        who holds it and since when; past ``lock_timeout`` it fails with one clear line.
        """
        lock_path = Path(self.repo.git_dir) / LOCK_FILE
        started = time.monotonic()
        deadline = started + self.lock_timeout
        next_log = started + 1.0
        with open(lock_path, "w") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    now = time.monotonic()
                    if now > deadline:
                        raise StoreError(
                            f"data repository {self.path} is locked by {self.describe_holder()}; "
                            f"gave up after {self.lock_timeout:.0f} s "
                            "(data_repository.lock_timeout_seconds)"
                        ) from None
                    if now >= next_log:
                        log.warning(
                            "waiting for the data repository %s: held by %s",
                            self.path,
                            self.describe_holder(),
                        )
                        next_log = now + WAIT_LOG_SECONDS
                    time.sleep(0.05)
            # The last holder's record, for whoever checks it left nothing behind (its lease).
            self.previous_holder = self.holder()
            self.set_holder(Holder.me(who))
            try:
                yield
            finally:
                # Released in order: a record left behind means its holder was killed.
                self.holder_file.unlink(missing_ok=True)
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def holder_file(self) -> Path:
        return self.state_dir / HOLDER_FILE

    def holder(self) -> Holder | None:
        return read_holder(self.holder_file)

    def set_holder(self, holder: Holder) -> None:
        write_holder(self.holder_file, holder)

    def describe_holder(self) -> str:
        holder = self.holder()
        return holder.describe() if holder else "another run (holder unknown)"

    # -- reading the remote ---------------------------------------------------

    def sync(self) -> bool:
        """Bring the local branch up to date with the remote before writing.

        Returns False (and logs a warning) when the remote cannot be reached:
        the run goes on locally and a later run pushes.
        """
        if not self.remote_url or self.silent:
            return False
        try:
            self._fetch()
        except GitCommandError as exc:
            log.warning(
                "data repository remote %s unreachable, working locally: %s%s",
                self.remote_label,
                _short(exc),
                self._note_silence(exc),
            )
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

    def _fetch(self) -> None:
        self.repo.git.fetch("origin", kill_after_timeout=self.network_timeout)

    # -- the working copy -----------------------------------------------------

    def ensure_gitignore(self) -> Path:
        """The repository's .gitignore holds every line the store relies on."""
        return self.working_copy.ensure_gitignore()

    def recover(self) -> list[str]:
        """Repair what a killed Git process left (call with :meth:`locked` held)."""
        return self.working_copy.recover()

    def reconcile(self, validate: Validator) -> Reconciled:
        """Validate what an interrupted run left (:meth:`WorkingCopy.reconcile`; call with
        :meth:`locked` held); the valid files join the next commit (:attr:`pending`)."""
        report = self.working_copy.reconcile(validate)
        self.pending = sorted(set(self.pending) | set(report.pending))
        return report

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """All or nothing for an operator command (:meth:`WorkingCopy.transaction`)."""
        return self.working_copy.transaction()

    def commit(self, message: str, paths: Sequence[Path]) -> str | None:
        """Commit ``paths`` (already validated) and the pending files; None when nothing changed."""
        every = [*paths, *self.pending]
        rel = sorted({str(Path(p).resolve().relative_to(self.path.resolve())) for p in every})
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
        self.pending = []
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
        if self.silent:
            return PushResult(False, f"remote unreachable: {self.silent} (not asked again)")
        for attempt in range(1, attempts + 1):
            try:
                self.repo.git.push(
                    "origin",
                    f"{self.branch}:{self.branch}",
                    kill_after_timeout=self.network_timeout,
                )
                return PushResult(True, f"pushed {self.branch} to {self.remote_label}")
            except GitCommandError as exc:
                detail = _short(exc)
                if _UNREACHABLE.search(detail):
                    log.warning(
                        "push to %s failed, remote unreachable; %d commit(s) stay local "
                        "and the next run pushes them: %s%s",
                        self.remote_label,
                        self.unpushed_count(),
                        detail,
                        self._note_silence(exc),
                    )
                    return PushResult(False, f"remote unreachable: {detail}")
                if not _REJECTED.search(detail) or attempt == attempts:
                    raise PushError(f"push to {self.remote_label} failed: {detail}") from None
                log.info("push rejected (the remote moved on); rebasing, attempt %d", attempt)
                self._fetch()
                self._rebase_onto(f"origin/{self.branch}")
        raise PushError(f"push to {self.remote_label} failed after {attempts} attempts")

    def _note_silence(self, exc: GitCommandError) -> str:
        """Remember a remote that did not answer within the timeout; what the log adds."""
        if "did not complete in" not in str(exc):
            return ""
        self.silent = _short(exc)
        return "; it is not asked again in this run"

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

    # -- maintenance ----------------------------------------------------------

    def fsck(self) -> list[str]:
        """``git fsck --full``: the problems it names (empty when the repository is sound)."""
        try:
            out = self.repo.git.fsck("--full", "--no-progress", with_extended_output=True)
        except GitCommandError as exc:
            text = f"{exc.stdout or ''}\n{exc.stderr or ''}"
            return [line for line in text.splitlines() if line.strip()] or [_short(exc)]
        _, stdout, stderr = out
        # Dangling objects are what gc prunes, not damage.
        return [
            line
            for line in f"{stdout}\n{stderr}".splitlines()
            if line.strip() and not line.startswith(("dangling ", "Checking "))
        ]

    def gc(self) -> None:
        """``git gc``: pack loose objects, drop unreachable ones past Git's grace period."""
        self.repo.git.gc("--quiet")

    def git_size(self) -> int:
        """Bytes Git holds for the history (``.git/objects``: packs and loose objects)."""
        objects = Path(self.repo.git_dir) / "objects"
        return sum(p.stat().st_size for p in objects.rglob("*") if p.is_file())


def _without_credentials(url: str | None) -> tuple[str | None, dict[str, str]]:
    """An http(s) URL without its user part, and the environment that hands git the
    credentials it held; anything else (a path, SSH) as it is, with no environment."""
    if not url or not re.match(r"^https?://", url, re.IGNORECASE):
        return url, {}
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    plain = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return plain, {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": _CREDENTIAL_HELPER,
        "MM_DATA_REMOTE_USERNAME": unquote(parts.username),
        "MM_DATA_REMOTE_PASSWORD": unquote(parts.password or ""),
    }


def _is_local_path(url: str) -> bool:
    return "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url)


def _short(exc: GitCommandError) -> str:
    text = " ".join(str(exc.stderr or exc).split())
    text = text.removeprefix("stderr: ").strip("'")
    if "did not complete in" in text:
        seconds = re.search(r"did not complete in ([\d.]+) secs", text)
        text = f"no answer within {seconds.group(1) if seconds else '?'} s (network timeout)"
    return redaction.redact(text)[:400]
