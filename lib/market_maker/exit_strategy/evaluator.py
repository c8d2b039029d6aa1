"""One exit evaluation: regime + grid + history -> exit state and decision record.

The evaluator decides (from stored files only) and records (the decision and the hour's
evaluation, with whatever the alerts delivered); it sends nothing: alerts are the
:mod:`market_maker.alerts` package's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from market_maker.base.identifiers import inside
from market_maker.base.timeutil import HOUR, format_utc
from market_maker.config import Settings
from market_maker.decisions.model import (
    SCHEMA_WITH_POSITION,
    Decision,
    GridRef,
    ProposedGrid,
    decision_id,
)
from market_maker.decisions.states import RECOMMENDATION
from market_maker.decisions.store import DecisionStore, ImmutableRecordError
from market_maker.exit_strategy.engine import Evaluation, evaluate
from market_maker.exit_strategy.model import DeliveryRecord, ReceiptRecord
from market_maker.exit_strategy.observation import Observation
from market_maker.exit_strategy.store import ExitStateStore, Prior
from market_maker.grids.book import GridBook
from market_maker.grids.model import GridConfig
from market_maker.grids.position_path import PositionTracker
from market_maker.regime import files
from market_maker.regime.model import MetricsFile, metrics_relpath

log = logging.getLogger(__name__)


@dataclass
class ExitDecided:
    """The decide step's answer for one symbol and hour: the exit state and the decision
    record, computed from stored files only; nothing is written or sent yet."""

    symbol: str
    hour: datetime
    grid_id: str | None
    metrics: MetricsFile
    evaluation: Evaluation | None = None
    observation: Observation | None = None
    decision: Decision | None = None
    # True when an earlier run recorded this hour's decision: that record stands, and the
    # operator was told then.
    decision_recorded: bool = False
    prior: Prior = field(default_factory=Prior)
    inputs: str = ""
    skipped: str = ""


class ExitEvaluator:
    """Evaluates hours in order; exit-state files and earlier metrics are cached across hours."""

    def __init__(self, root: Path, settings: Settings):
        self.root = root
        self.settings = settings
        self._n = settings.snapshots.period_minutes
        self._period = timedelta(minutes=self._n)
        self.states = ExitStateStore(root)
        self.decisions = DecisionStore(root)
        self._metrics: dict[tuple[str, datetime], MetricsFile | None] = {}
        self.positions = PositionTracker(root, period_minutes=settings.snapshots.period_minutes)

    def remember(self, metrics: MetricsFile) -> None:
        """Keep a metrics file just produced, so the next hour reads its ADX from memory."""
        self._metrics[(metrics.symbol, metrics.hour)] = metrics

    def metrics_at(self, symbol: str, hour: datetime) -> MetricsFile | None:
        """The metrics file of ``symbol`` at ``hour`` (None when never analysed), cached."""
        key = (symbol, hour)
        if key not in self._metrics:
            path = inside(self.root, metrics_relpath(symbol, hour, self._n))
            self._metrics[key] = files.read(path) if path.exists() else None
        return self._metrics[key]

    def decide(
        self,
        metrics: MetricsFile,
        book: GridBook,
        *,
        code_version: str,
        promotion: ProposedGrid | None = None,
    ) -> ExitDecided:
        """The exit state of the grid running at ``metrics.hour`` and its decision record;
        ``promotion`` (a full grid to replace a probationary one) goes into the decision.
        Reads stored files only."""
        symbol, hour = metrics.symbol, metrics.hour
        self.remember(metrics)
        grid = book.running(symbol, hour)
        if grid is None:
            return ExitDecided(
                symbol, hour, None, metrics, skipped="no running grid: nothing to evaluate"
            )
        previous = self.metrics_at(symbol, hour - HOUR)
        observation = Observation.build(metrics, grid, previous)
        prior = self.states.prior(symbol, grid.id, hour)
        evaluation = evaluate(
            observation,
            prior.state,
            prior.records,
            self.settings.exit_strategy,
            period=self._period,
        )
        decision = self._decision(metrics, observation, evaluation, book, code_version, promotion)
        stored = self.decisions.recorded(decision)
        if isinstance(stored, Decision):
            if stored != decision:
                # An earlier run issued this hour's decision (under another configuration or
                # code version): the record stands, and the operator was told then.
                log.warning(
                    "decision %s was issued by an earlier run and is kept as it is", stored.id
                )
            decision = stored
        return ExitDecided(
            symbol,
            hour,
            grid.id,
            metrics,
            evaluation=evaluation,
            observation=observation,
            decision=decision,
            decision_recorded=stored is not None,
            prior=prior,
            inputs=_fingerprint(metrics, grid_inputs(grid, hour), prior, previous),
        )

    def record(
        self,
        d: ExitDecided,
        deliveries: list[DeliveryRecord] | None = None,
        receipts: list[ReceiptRecord] | None = None,
    ) -> list[Path]:
        """Write the hour's decision (unless an earlier run did) and its evaluation, the
        delivery attempts and the receipts learned into the exit-state file."""
        if d.evaluation is None or d.decision is None:
            return []
        paths = []
        try:
            paths.append(self.decisions.write(d.decision)[0])
        except ImmutableRecordError:
            # Recorded meanwhile by another run: that record stands.
            paths.append(self.decisions.path(d.decision))
        paths.append(
            self.states.record(
                d.symbol,
                d.evaluation,
                inputs=d.inputs,
                deliveries=deliveries or [],
                receipts=receipts or [],
            )
        )
        return paths

    def _decision(
        self,
        metrics: MetricsFile,
        o: Observation,
        e: Evaluation,
        book: GridBook,
        code_version: str,
        promotion: ProposedGrid | None = None,
    ) -> Decision:
        issued = metrics.hour + self._period
        minutes = self.settings.decisions.minutes_for(metrics.verdict)
        met = e.conditions_met
        reasons = [f"{c.name}: {c.reason}" for c in met] or ["no exit condition met"]
        if metrics.verdict is None:
            reasons.append(
                f"regime analysis refused: {metrics.metrics_computable} of 6 metrics computable"
            )
        if e.after.rank < e.before.rank and e.transition is not None:
            reasons = e.transition.reasons + reasons
        grid = o.grid
        position = self.positions.risk(grid, metrics.hour, metrics.price)
        return Decision(
            schema_version=SCHEMA_WITH_POSITION,
            id=decision_id(metrics.symbol, issued),
            symbol=metrics.symbol,
            hour=metrics.hour,
            issued_at=issued,
            expires_at=issued + timedelta(minutes=minutes) if minutes is not None else None,
            recommendation=RECOMMENDATION[e.after],
            exit_state=e.after,
            previous_exit_state=e.before,
            verdict=metrics.verdict,
            confidence=metrics.confidence,
            reasons=reasons,
            metrics=o.values(),
            grid=GridRef(
                grid_id=grid.id,
                lower_price=grid.lower_price,
                upper_price=grid.upper_price,
                levels=grid.levels,
                grid_version=book.versions.get(grid.id),
            ),
            metrics_file=metrics_relpath(
                metrics.symbol, metrics.hour, metrics.period_minutes
            ).as_posix(),
            position=position,
            promotion=promotion,
            config_version=metrics.config_version,
            code_version=code_version,
        )


def grid_inputs(grid: GridConfig, hour: datetime) -> str:
    """What an hour's evaluation takes from the grid: its parameters and since when it runs,
    not its later history (stopping a grid tomorrow changes nothing about today)."""
    return json.dumps(
        [
            grid.lower_price,
            grid.upper_price,
            grid.levels,
            grid.amount_per_grid,
            grid.profit_per_grid,
            format_utc(since) if (since := grid.running_since(hour)) else None,
        ]
    )


def _fingerprint(
    metrics: MetricsFile, grid: str, prior: Prior, previous: MetricsFile | None
) -> str:
    """What an evaluation depends on: the hour's and the previous hour's metrics, the grid's
    inputs (:func:`grid_inputs`) and the evaluations its persistence reads. Equal fingerprints
    give equal evaluations."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(files.dumps(metrics))
    digest.update(files.dumps(previous) if previous is not None else b"-")
    history = [(format_utc(r.hour), r.state, r.target, r.warning) for r in prior.records[:48]]
    digest.update(json.dumps([grid, str(prior.state), history]).encode())
    return digest.hexdigest()[:12]
