"""The daily digest: one quiet message a day that says the system is alive and what it saw.

For the day that ended: each grid's exit state, the regime verdicts of its 24 hours (of its
collection periods: 96 at 15 minutes), the alerts sent (by priority) and the emergencies
acknowledged, and whether every period was analysed (the proof of life: a stopped scheduler
sends no failure alert). Sent once per day:
``digests/{YYYY-MM-DD}.yaml`` records every attempt, and a rerun after a delivery sends
nothing; one after a failed attempt tries again.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field

from market_maker.alerts.message import (
    MAX_TITLE,
    PRIORITY,
    Notification,
    trim,
    where_in_grid,
)
from market_maker.alerts.notifier import Notifier
from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.base.timeutil import period
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.base.yaml_files import dump, load_model
from market_maker.config import Settings
from market_maker.decisions.states import ExitState
from market_maker.exit_strategy.model import REFUSAL_KEY, EvaluationRecord, ExitStateFile
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.grids.book import GridBook
from market_maker.regime import files as metrics_files
from market_maker.regime.model import MetricsFile, metrics_relpath
from market_maker.store.file_kinds import FileKind, under

log = logging.getLogger(__name__)
DIGESTS_DIR = "digests"
SCHEMA_VERSION = "1.0"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
VERDICT_ORDER = ("RANGE_OK", "RANGE_WEAK", "TRANSITION", "TREND")


class DigestAttempt(FrozenModel):
    channel: str = Field(description="pushover, log (no keys configured) or webhook.")
    attempted_at: UtcDatetime
    ok: bool
    detail: str


class DigestRecord(FrozenModel):
    """``digests/{YYYY-MM-DD}.yaml``: the digest of a day and every attempt to deliver it."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    date: date
    title: str
    message: str
    attempts: list[DigestAttempt] = Field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """The operator's channel (Pushover, or the log without keys) took it."""
        return any(a.ok and a.channel != "webhook" for a in self.attempts)


def digest_relpath(day: date) -> Path:
    return Path(DIGESTS_DIR, f"{day:%Y-%m-%d}.yaml")


def read_digest(path: Path) -> DigestRecord:
    record = load_model(path.read_bytes(), DigestRecord, str(path))
    if digest_relpath(record.date) != Path(*path.parts[-2:]):
        raise DataError(f"{path}: holds the digest of {record.date}")
    return record


def build_digest(root: Path, settings: Settings, day: date) -> Notification:
    """The digest of ``day`` from the data repository (metrics, exit states, grids)."""
    minutes = settings.snapshots.period_minutes
    step = period(minutes)
    start = datetime.combine(day, time(0), UTC)
    end = start + DAY - step  # the day's last period
    lines: list[str] = []
    states = ExitStateStore(root)
    book = GridBook.load(root, fee_rate=settings.grids.fee_rate)
    analysed_all = True
    alerts: Counter[int] = Counter()
    acks: list[int] = []
    for symbol in settings.symbols:
        line, analysed, last = _verdicts(root, symbol, start, minutes)
        analysed_all &= analysed == DAY // step
        lines.append(line)
        file = states.day(symbol, day)
        lines += _grids(book, symbol, file.latest() if file else [], last, end, step)
        if file is not None:
            _count_alerts(file, alerts)
            acks += [
                r.response_seconds
                for r in file.receipts
                if r.outcome == "acknowledged" and r.response_seconds is not None
            ]
    total = sum(alerts.values())
    by_priority = ", ".join(f"priority {p}: {alerts[p]}" for p in sorted(alerts, reverse=True))
    alert_line = f"Alerts sent: {total}" + (f" ({by_priority})" if total else "") + "."
    if acks:
        alert_line += (
            f" {len(acks)} emergency acknowledged, the slowest after {max(acks) // 60} min."
        )
    lines.append(alert_line)
    unit = "hour" if minutes == 60 else "period"
    head = (
        f"Alive: every {unit} of the day was analysed."
        if analysed_all
        else f"{unit.capitalize()}s are missing: check the hourly pipeline's runs."
    )
    missing = f"{unit.upper()}S MISSING"
    return Notification(
        kind="daily_digest",
        title=trim(f"market-maker {day}: {'alive' if analysed_all else missing}", MAX_TITLE),
        message=trim("\n".join([head, *lines])),
        priority=settings.notifications.digest.priority,
        timestamp=int((end + step).timestamp()),
        context={"date": day.isoformat(), "alerts": total},
    )


def _verdicts(
    root: Path, symbol: str, start: datetime, minutes: int = 60
) -> tuple[str, int, MetricsFile | None]:
    """The day's verdicts of ``symbol``, one a ``minutes`` period: (line, periods analysed,
    the last metrics file)."""
    step = period(minutes)
    verdicts: Counter[str] = Counter()
    last = None
    for k in range(DAY // step):
        path = inside(root, metrics_relpath(symbol, start + k * step, minutes))
        if path.exists():
            last = metrics_files.read(path)
            verdicts[str(last.verdict) if last.verdict else "refused"] += 1
    analysed = sum(verdicts.values())
    periods = "hours" if minutes == 60 else f"{minutes}-minute periods"
    if last is None:
        return f"{symbol}: NO {'hour' if minutes == 60 else 'period'} of the day analysed.", 0, None
    shares = ", ".join(f"{v} {verdicts[v]}" for v in (*VERDICT_ORDER, "refused") if verdicts[v])
    line = (
        f"{symbol}: {analysed}/{DAY // step} {periods} analysed, last {last.hour:%H:%M} UTC at "
        f"{last.price:,.2f}. Verdicts: {shares}."
    )
    return line, analysed, last


def _grids(
    book: GridBook,
    symbol: str,
    evaluations: list[EvaluationRecord],
    last: MetricsFile | None,
    end: datetime,
    step: timedelta = HOUR,
) -> list[str]:
    """A line per grid of ``symbol`` that ran during the day: its state and since when.
    ``end``: the day's last period, of length ``step``."""
    lines = []
    for grid in book.grids.values():
        mine = [e for e in evaluations if e.grid_id == grid.id]
        running = grid.running_at(end + step)
        if grid.symbol != symbol or (not mine and not running):
            continue
        label = f"Grid {grid.id} ({grid.lower_price:,.0f}-{grid.upper_price:,.0f}, "
        stops = [e for _, e in grid.running_intervals() if e and end - DAY < e <= end + step]
        label += (
            "running)" if running else (f"stopped {stops[-1]:%H:%M} UTC)" if stops else "stopped)")
        )
        if not mine:
            lines.append(f"{label}: not evaluated.")
            continue
        since = mine[-1].hour
        for e in reversed(mine):
            if e.state != mine[-1].state:
                break
            since = e.hour
        where = ""
        if last is not None:
            where = f", price {where_in_grid(last.price, grid.lower_price, grid.upper_price)}"
        when = "all day" if since.hour == since.minute == 0 else f"since {since:%H:%M} UTC"
        lines.append(f"{label}: {mine[-1].state} {when}{where}.")
    return lines


def _count_alerts(file: ExitStateFile, alerts: Counter[int]) -> None:
    """Count the alerts the operator's channel took, once each, by priority."""
    seen = set()
    for d in file.deliveries:
        if not d.ok or d.channel == "webhook" or (d.hour, d.key, d.grid_id) in seen:
            continue
        seen.add((d.hour, d.key, d.grid_id))
        alerts[d.priority if d.priority is not None else _priority(d.key)] += 1


def _priority(key: str) -> int:
    """What a delivery recorded before priorities were (schema 1.1) was sent at."""
    if key == REFUSAL_KEY:
        return PRIORITY[ExitState.WARNING]
    return PRIORITY[ExitState(key)]


def send_digest(
    root: Path, settings: Settings, notifier: Notifier, day: date
) -> tuple[Path | None, str]:
    """Send the digest of ``day`` unless it went out already; (file written or None, what
    happened)."""
    path = inside(root, digest_relpath(day))
    record = read_digest(path) if path.exists() else None
    if record is not None and record.delivered:
        return None, f"digest of {day} already sent"
    n = build_digest(root, settings, day)
    deliveries = notifier.send(n)
    now = datetime.now(UTC).replace(microsecond=0)
    attempts = [*(record.attempts if record else [])] + [
        DigestAttempt(channel=d.channel, attempted_at=now, ok=d.ok, detail=d.detail[:300])
        for d in deliveries
    ]
    updated = DigestRecord(date=day, title=n.title, message=n.message, attempts=attempts)
    data = dump(updated.model_dump(mode="json"))
    write_atomic(path, data, lambda tmp: _check(tmp, updated))
    sent = updated.delivered
    if not sent:
        log.warning("the digest of %s was not delivered; the next run tries again", day)
    return path, f"digest of {day} {'sent' if sent else 'NOT delivered'}"


def _check(tmp: Path, expected: DigestRecord) -> None:
    if load_model(tmp.read_bytes(), DigestRecord, str(tmp)) != expected:
        raise DataError(f"{tmp}: digest record does not read back equal")


DIGEST_FILES = FileKind(
    "digest", under(DIGESTS_DIR, ".yaml", depth=2), lambda root, rel: read_digest(root / rel)
)
