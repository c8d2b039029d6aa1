"""The daily scoring from the data repository: outcome entries for due decisions, KPI files.

Reads what the hourly runs recorded (grids, exit-state files, decision records
and their entries, snapshots' hourly candles), hands it to the pure functions
of :mod:`market_maker.kpis.compute` and :mod:`market_maker.kpis.outcomes`, and
writes the results as validated, atomic files: evaluation entries beside each
decision (never edits) and ``kpis/{YYYY-MM-DD}.yaml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside, symbol_part
from market_maker.base.timeutil import HOUR, floor_hour, format_utc
from market_maker.base.yaml_files import dump, load_model
from market_maker.config import Settings
from market_maker.context import RunContext
from market_maker.decisions.model import DECISIONS_DIR, Decision, DecisionEntry
from market_maker.decisions.store import DecisionStore
from market_maker.exit_strategy.store import ExitStateStore
from market_maker.grids.book import GridBook
from market_maker.grids.valuation import GridShape
from market_maker.kpis.compute import find_events, kpis
from market_maker.kpis.history import (
    ActionFact,
    DecisionFact,
    GridLife,
    HourlyPrices,
    Rules,
    StateHour,
    SymbolHistory,
)
from market_maker.kpis.model import (
    KPIS_DIR,
    WINDOW_DAYS,
    Kpi,
    KpiEvent,
    KpiFile,
    KpiValue,
    kpis_relpath,
    read_kpi_file,
)
from market_maker.kpis.outcomes import EvaluationData, evaluate_outcome, horizon_label
from market_maker.snapshots.columnar import CandleCache
from market_maker.snapshots.reader import SnapshotReader

log = logging.getLogger(__name__)

# Decisions and exit states are read this far before a KPI day: the longest window.
LOOKBACK = timedelta(days=max(WINDOW_DAYS.values()) + 1)

WriteStatus = Literal["written", "unchanged", "kept"]


@dataclass
class ScoringReport:
    """What a scoring run wrote."""

    evaluations: list[Path] = field(default_factory=list)
    kpi_files: dict[date, WriteStatus] = field(default_factory=dict)
    files: list[KpiFile] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return list(self.evaluations)


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


class KpiService:
    def __init__(
        self,
        root: Path,
        settings: Settings,
        reader: SnapshotReader,
        cache_dir: Path,
        *,
        config_version: str,
        code_version: str,
    ):
        self.root = root
        self.settings = settings
        self.reader = reader
        self.cache = CandleCache(reader, cache_dir)
        self.decisions = DecisionStore(root)
        self.states = ExitStateStore(root)
        self.config_version = config_version
        self.code_version = code_version
        cfg = settings.kpis
        fee_rate = cfg.fee_rate if cfg.fee_rate is not None else settings.grids.fee_rate
        self.rules = Rules.of(cfg, fee_rate)
        self._books: GridBook | None = None
        # Each day's decisions and actions, read once per run (KPI days share 30 of 31 days).
        self._days: dict[tuple[str, date], tuple[list[DecisionFact], list[ActionFact]]] = {}

    @classmethod
    def open(cls, ctx: RunContext) -> KpiService:
        """Over the run's data repository, with its settings and versions."""
        return cls(
            ctx.store.path,
            ctx.settings,
            ctx.reader,
            ctx.cache_dir,
            config_version=ctx.config_version,
            code_version=ctx.code_version,
        )

    # -- reading the records ------------------------------------------------------------

    @property
    def book(self) -> GridBook:
        if self._books is None:
            self._books = GridBook.load(self.root, fee_rate=self.settings.grids.fee_rate)
        return self._books

    def history(self, symbol: str, since: datetime, until: datetime) -> SymbolHistory:
        """What was recorded for ``symbol`` from ``since`` to ``until`` (grid lives whole)."""
        lives = self._lives(symbol)
        first = min([since, *(life.start for life in lives if _overlaps(life, since, until))])
        candles = self.cache.load(symbol, first, until).h1
        prices = HourlyPrices(candles.t, candles.high, candles.low, candles.close)
        states, decisions, actions = [], [], []
        day = since.date()
        while day <= until.date():
            file = self.states.day(symbol, day)
            if file is not None:
                states += [StateHour(e.hour, e.grid_id, e.state) for e in file.latest()]
            day_decisions, day_actions = self._records(symbol, day)
            decisions += day_decisions
            actions += day_actions
            day += timedelta(days=1)
        return SymbolHistory(symbol, prices, lives, states, decisions, actions)

    def _lives(self, symbol: str) -> list[GridLife]:
        out = []
        for grid in self.book.grids.values():
            if grid.symbol != symbol:
                continue
            shape = GridShape(
                grid.lower_price,
                grid.upper_price,
                grid.levels,
                grid.amount_per_grid,
                geometric=grid.spacing_kind == "geometric",
            )
            out += [GridLife(grid.id, shape, s, e) for s, e in grid.running_intervals()]
        return out

    def _records(self, symbol: str, day: date) -> tuple[list[DecisionFact], list[ActionFact]]:
        key = (symbol, day)
        if key not in self._days:
            decisions, actions = [], []
            for decision in self._decisions_of(symbol, day):
                decisions.append(
                    DecisionFact(
                        decision.id,
                        decision.grid.grid_id,
                        decision.hour,
                        decision.issued_at,
                        str(decision.recommendation),
                        decision.exit_state,
                    )
                )
                actions += self._actions(decision)
            self._days[key] = (decisions, actions)
        return self._days[key]

    def _decisions_of(self, symbol: str, day: date) -> list[Decision]:
        folder = inside(self.root, Path(DECISIONS_DIR, f"{day:%Y-%m-%d}"))
        pattern = f"dec-{symbol_part(symbol)}-[0-9][0-9][0-9][0-9][0-9][0-9].yaml"
        # Setup recommendations are scored by what follows them (the grid they create), not
        # here: the KPIs judge the exits of running grids.
        read = (self.decisions.read(p) for p in sorted(folder.glob(pattern)))
        return [d for d in read if isinstance(d, Decision)]

    def _actions(self, decision: Decision) -> list[ActionFact]:
        return [action_fact(e) for e in self.decisions.entries(decision.id, "action")]

    # -- outcome entries ------------------------------------------------------------------

    def evaluate_due(self, symbol: str, since: datetime, until: datetime) -> list[Path]:
        """Append the evaluation entries that are due by ``until`` for decisions issued from
        ``since``; an entry already there for a horizon is never written again."""
        history = self.history(symbol, since, until)
        prices = history.prices.upto(until)
        lives = {life.grid_id: life for life in history.lives}
        actions = {a.decision_id: a for a in sorted(history.actions, key=lambda a: a.at)[::-1]}
        written = []
        delay = timedelta(minutes=self.settings.kpis.operator_delay_minutes)
        for fact in history.decisions:
            life = lives.get(fact.grid_id)
            if life is None or fact.issued_at < since:
                continue
            done = {e.data.get("horizon") for e in self.decisions.entries(fact.id, "evaluation")}
            for hours in self.settings.kpis.horizons_hours:
                label = horizon_label(hours)
                end = fact.issued_at + timedelta(hours=hours)
                if label in done or end > until:
                    continue
                action = actions.get(fact.id)
                outcome = evaluate_outcome(
                    recommendation=fact.recommendation,
                    hour=fact.hour,
                    issued_at=fact.issued_at,
                    horizon_hours=hours,
                    shape=life.shape,
                    prices=prices,
                    stop_price=self.price_at(symbol, fact.issued_at + delay, prices),
                    action=action,
                    action_price=(
                        self.price_at(symbol, action.at, prices) if action is not None else None
                    ),
                    fee_rate=self.rules.fee_rate,
                )
                if outcome is None:
                    continue
                written.append(
                    self.decisions.append(
                        fact.id, "evaluation", outcome.model_dump(mode="json"), recorded_at=end
                    )
                )
        return written

    def price_at(self, symbol: str, moment: datetime, prices: HourlyPrices) -> float:
        """The price at a moment: the open of its minute in the hour's snapshot, else the
        close of the hour before (the same price, an hour coarser)."""
        hour = floor_hour(moment)
        try:
            snapshot = self.reader.load_snapshot(symbol, hour)
            minute = snapshot.minutes[moment.minute]
            return snapshot.price(minute.o)
        except (DataError, IndexError):
            close = prices.close_at(hour - HOUR)
            if close is None:
                raise DataError(
                    f"no recorded price for {symbol} at {format_utc(moment)}: backfill it"
                ) from None
            return close

    # -- KPI files ----------------------------------------------------------------------

    def kpi_file(self, day: date) -> KpiFile:
        """The KPIs of ``day`` and of the 7 and 30 days ending with it, as of its end."""
        as_of = day_end(day)
        events: list[KpiEvent] = []
        symbols = list(self.settings.symbols)
        for symbol in symbols:
            history = self.history(symbol, as_of - LOOKBACK, as_of)
            events += find_events(history, as_of, self.rules)
        windows = {
            name: kpis(events, as_of - timedelta(days=days), as_of)
            for name, days in WINDOW_DAYS.items()
        }
        today = [e for e in events if as_of - timedelta(days=1) <= e.at < as_of]
        return KpiFile(
            date=day,
            as_of=as_of,
            symbols=symbols,
            windows=windows,
            events=today,
            no_events=not today,
            config_version=self.config_version,
            code_version=self.code_version,
        )

    def period_kpis(self, first: date, last: date) -> dict[Kpi, KpiValue]:
        """The KPIs over every event from the start of ``first`` to the end of ``last``."""
        start, as_of = day_end(first) - timedelta(days=1), day_end(last)
        events: list[KpiEvent] = []
        for symbol in self.settings.symbols:
            events += find_events(self.history(symbol, start, as_of), as_of, self.rules)
        return kpis(events, start, as_of)

    def write_kpi_file(self, file: KpiFile) -> tuple[Path, WriteStatus]:
        """Write atomically, validated. A file already there is never rewritten: identical,
        it is left as it is; different (another configuration or code), it is kept."""
        path = inside(self.root, kpis_relpath(file.date))
        data = dump(file.model_dump(mode="json"))
        if path.exists():
            existing = read_kpi_file(path)
            if existing.model_dump(exclude={"code_version"}) == file.model_dump(
                exclude={"code_version"}
            ):
                return path, "unchanged"
            log.warning("%s differs from this computation and is kept as it is", path.name)
            return path, "kept"

        def validate(tmp: Path) -> None:
            if load_model(tmp.read_bytes(), KpiFile, str(path)) != file:
                raise DataError(f"{path}: KPI file does not read back equal")

        write_atomic(path, data, validate)
        return path, "written"


def latest_kpi_day(root: Path) -> date | None:
    """The most recent day with a KPI file."""
    names = sorted(p.stem for p in (root / KPIS_DIR).glob("????-??-??.yaml"))
    return date.fromisoformat(names[-1]) if names else None


def action_fact(entry: DecisionEntry) -> ActionFact:
    """An action entry as the KPI module's fact."""
    return ActionFact(entry.decision_id, *entry.action_taken())


def _overlaps(life: GridLife, start: datetime, end: datetime) -> bool:
    return life.start <= end and (life.end is None or life.end >= start)


__all__ = ["EvaluationData", "KpiService", "ScoringReport", "action_fact", "day_end"]
