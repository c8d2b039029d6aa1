"""The registry of the files the system writes: each package adds the kinds it owns.

A kind says which relative paths it covers and how one such file is checked; the
registry is the validator the store runs over whatever an interrupted run left
uncommitted (:meth:`GitDataStore.reconcile`), so a file passes only with the checks it
would have passed when written. The registry of every kind is assembled at the top of
the library (:mod:`market_maker.data_files`), which alone knows every package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.store.working_copy import Validator

# (repository root, relative path) -> anything; raises DataError when the file is invalid
Check = Callable[[Path, Path], object]


@dataclass(frozen=True)
class FileKind:
    """One kind of file: which paths it covers, how one is checked, and whether it may
    never change once committed."""

    name: str
    matches: Callable[[Path], bool]
    check: Check
    immutable: bool = False


def under(folder: str, suffix: str, depth: int | None = None) -> Callable[[Path], bool]:
    """Paths under ``folder`` ending in ``suffix`` (``depth``: exactly that many parts)."""

    def matches(relative: Path) -> bool:
        return (
            relative.parts[0] == folder
            and relative.name.endswith(suffix)
            and (depth is None or len(relative.parts) == depth)
        )

    return matches


class FileKinds(Validator):
    """The first kind whose paths cover a file checks it; a file no kind covers is invalid."""

    def __init__(self, kinds: Iterable[FileKind]):
        self.kinds = tuple(kinds)

    def kind_of(self, relative: Path) -> FileKind | None:
        return next((k for k in self.kinds if k.matches(relative)), None)

    def immutable(self, relative: Path) -> bool:
        kind = self.kind_of(relative)
        return kind is not None and kind.immutable

    def __call__(self, root: Path, relative: Path) -> None:
        kind = self.kind_of(relative)
        if kind is None:
            raise DataError(f"{relative}: not a file market-maker writes")
        kind.check(root, relative)
