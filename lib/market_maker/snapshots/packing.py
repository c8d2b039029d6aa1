"""Packed months: every snapshot of one symbol and month in one compressed file.

``snapshots/{SYMBOL}/{YYYY}/{MM}.zip`` holds the month's files as
``{DD}/{HH}.json`` members (``{DD}/{HH}-{MM}.json`` for periods under an hour), each
stored byte for byte (deflate is lossless), so unpacking gives back exactly the files
that were packed. The archive is deterministic: members sorted, fixed timestamps and
permissions. The reader reads a member as it reads a loose file; a loose file beside a
pack wins.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from market_maker.base.errors import DataError
from market_maker.base.identifiers import symbol_part
from market_maker.snapshots.paths import SNAPSHOTS_DIR, file_name, start_of_name

PACK_SUFFIX = ".zip"
_MEMBER_RE = re.compile(r"^(\d{2})/([^/]+)$")
_PACK_RE = re.compile(r"(\d{4})/(\d{2})\.zip$")
_EPOCH_1980 = (1980, 1, 1, 0, 0, 0)  # zip's earliest timestamp: the archive never varies


def pack_relpath(symbol: str, year: int, month: int) -> Path:
    """``snapshots/{SYMBOL}/{YYYY}/{MM}.zip``."""
    return Path(SNAPSHOTS_DIR, symbol_part(symbol), f"{year:04d}", f"{month:02d}{PACK_SUFFIX}")


def member_name(hour: datetime, period_minutes: int = 60) -> str:
    return f"{hour.astimezone(UTC):%d}/{file_name(hour, period_minutes)}"


def month_of_pack(path: Path) -> tuple[int, int] | None:
    """(year, month) a pack's path stands for, or None if the path is not a pack's."""
    match = _PACK_RE.search(path.as_posix())
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return int(match.group(1)), int(match.group(2))


def hour_of_member(
    year: int, month: int, name: str, period_minutes: int | None = None
) -> datetime | None:
    """The period start a member stands for (of that period only, when it is given)."""
    match = _MEMBER_RE.match(name)
    if not match:
        return None
    try:
        return start_of_name(year, month, int(match.group(1)), match.group(2), period_minutes)
    except ValueError:
        return None


def build_pack(files: dict[str, bytes]) -> bytes:
    """A deterministic archive of ``{member name: bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH_1980)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # Unix: the permissions above apply everywhere
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def read_pack(path: Path) -> dict[str, bytes]:
    """Every member of a pack, its CRC checked; a damaged pack raises naming the file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError) as exc:
        raise DataError(f"{path}: unreadable snapshot pack: {exc}") from None


@dataclass
class OpenPack:
    """An open pack, for reading members one at a time; keyed by the file's mtime and size."""

    path: Path
    mtime_ns: int
    size: int
    archive: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]

    @classmethod
    def open(cls, path: Path) -> OpenPack:
        stat = path.stat()
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise DataError(f"{path}: unreadable snapshot pack: {exc}") from None
        members = {info.filename: info for info in archive.infolist()}
        return cls(path, stat.st_mtime_ns, stat.st_size, archive, members)

    def read(self, name: str) -> bytes:
        try:
            return self.archive.read(name)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{self.path}: unreadable member {name}: {exc}") from None

    def close(self) -> None:
        self.archive.close()


__all__ = [
    "PACK_SUFFIX",
    "OpenPack",
    "build_pack",
    "hour_of_member",
    "member_name",
    "month_of_pack",
    "pack_relpath",
    "read_pack",
]
