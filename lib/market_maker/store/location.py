"""Where a data repository's working copy may live: never in the project's own checkout, never
inside another Git repository.

The store initialises, commits, rewrites ``origin`` and pushes wherever
``data_repository.base_path`` points. Pointed at the project's checkout (an empty path is
the project root) it would commit snapshots on the project's branch and push the project's
files to the data remote; pointed inside another repository it would write into that
repository's tree. Both are refused before anything runs. A path the enclosing repository
ignores is not part of it: the embedded default, ``var/data-repo``, lives in the project's
ignored ``var/``.
"""

from __future__ import annotations

from pathlib import Path

from git import Git, GitCommandError, InvalidGitRepositoryError, Repo

from market_maker.base.errors import ConfigurationError
from market_maker.store.working_copy import MANAGED_DIRS

SETTING = "data_repository.base_path"
STATE_DIR = "market-maker"
# What a data repository's top level holds besides the managed folders.
DATA_REPOSITORY_FILES = (".gitignore", "quarantine")


def check_base_path(path: Path, project_root: Path | None) -> None:
    """Raise ConfigurationError (one line naming the setting) when ``path`` is the project's
    checkout or inside it, or inside (or itself) a Git repository that is not a data
    repository. Nothing is written: it only looks."""
    path = path.expanduser().resolve()
    project = _enclosing_work_tree(project_root.expanduser().resolve()) if project_root else None
    enclosing = _enclosing_work_tree(path)
    if enclosing == path:
        if enclosing == project:
            _refuse(path, "is the project's own checkout")
        if not is_data_repository(path):
            _refuse(path, "is a Git repository that is not a data repository")
        # A data repository of its own: what matters is whether it sits in another one's tree.
        enclosing = _enclosing_work_tree(path.parent)
    if enclosing is None or _ignores(enclosing, path):
        return
    if enclosing == project:
        _refuse(path, f"is inside the project's own checkout {enclosing}")
    _refuse(path, f"is inside the Git repository {enclosing}")


def is_data_repository(path: Path) -> bool:
    """A repository the store made or cloned: its state folder is in ``.git``, or its last
    commit holds only the managed folders (or nothing yet)."""
    try:
        repo = Repo(path)
    except (InvalidGitRepositoryError, GitCommandError, OSError):
        return False
    with repo:
        if (Path(repo.git_dir) / STATE_DIR).is_dir():
            return True
        if not repo.head.is_valid():
            return True
        names = {entry.name for entry in repo.head.commit.tree}
    return names <= {*MANAGED_DIRS, *DATA_REPOSITORY_FILES}


def _enclosing_work_tree(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` with a ``.git`` (a folder, or the file of a
    linked worktree); None outside any repository."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _ignores(work_tree: Path, path: Path) -> bool:
    """``work_tree``'s Git ignores ``path`` (existing or not): it is not part of it."""
    try:
        Git(str(work_tree)).check_ignore("-q", str(path))
    except GitCommandError:
        return False
    return True


def _refuse(path: Path, why: str) -> None:
    raise ConfigurationError(
        f"{SETTING} {path} {why}: point it at a directory of its own for the data "
        "repository's working copy (MARKET_MAKER_DATA_REPOSITORY__BASE_PATH)"
    )
