"""The KPI file, ``kpis/{YYYY-MM-DD}.yaml``, and the records it is computed from."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from market_maker.base.errors import DataError
from market_maker.base.types import FrozenModel, UtcDatetime
from market_maker.base.yaml_files import load_model
from market_maker.store.file_kinds import FileKind, under

SCHEMA_VERSION = "1.0"
KPIS_DIR = "kpis"


class Kpi(StrEnum):
    SLAR = "SLAR"  # stop-loss avoidance rate
    PRR = "PRR"  # profit retention rate
    TTDR = "TTDR"  # time to detect a regime change
    FER = "FER"  # false exit rate
    ERT = "ERT"  # exit response time
    EAW = "EAW"  # exit advance warning
    MEC = "MEC"  # missed exit cost


WINDOWS = ("day", "7d", "30d")
WINDOW_DAYS = {"day": 1, "7d": 7, "30d": 30}

Unit = Literal["ratio", "hours", "minutes", "USD"]


class KpiValue(FrozenModel):
    """One KPI over one window, with the counts behind it."""

    value: float | None = Field(description="Null when there is nothing to measure.")
    unit: Unit
    numerator: float | None = Field(None, description="For ratios: what was counted.")
    denominator: int = Field(description="Events the value is computed from.")
    pending: int = Field(0, description="Events too recent to judge at the as-of time.")
    target: str | None = Field(None, description="The design's target, e.g. '< 0.30'.")
    met: bool | None = Field(None, description="Whether the target is met; null: no target.")
    note: str = Field("", description="What the value is, in words.")


class KpiEvent(FrozenModel):
    """One event a KPI counts: traceable to its hour, grid and decision."""

    kind: Literal["exit_signal", "break", "grid_stop", "response"]
    at: UtcDatetime
    symbol: str
    grid_id: str
    decision: str | None = None
    outcome: str = Field(description="e.g. false_exit, true_exit, pending, warned, missed.")
    hours: float | None = Field(
        None, description="Break: the exit signal's lead. Response: the operator's delay."
    )
    detection_hours: float | None = Field(
        None, description="Break: hours from the break to its WARNING (negative: before)."
    )
    usd: float | None = Field(None, description="Break: the loss. Grid stop: the profit kept.")
    peak_usd: float | None = Field(None, description="Grid stop: the peak profit.")


class KpiFile(FrozenModel):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    date: date
    as_of: UtcDatetime = Field(description="End of the day: the latest price the KPIs saw.")
    symbols: list[str]
    windows: dict[Literal["day", "7d", "30d"], dict[Kpi, KpiValue]]
    events: list[KpiEvent] = Field(description="The events of the day window.")
    no_events: bool = Field(description="Nothing happened to score on this day.")
    config_version: str
    code_version: str


def kpis_relpath(day: date | datetime) -> Path:
    return Path(KPIS_DIR, f"{day:%Y-%m-%d}.yaml")


def read_kpi_file(path: Path) -> KpiFile:
    """A ``kpis/{day}.yaml``, validated; its name must be its day."""
    file = load_model(path.read_bytes(), KpiFile, str(path), kind="KPI file")
    if Path(*path.parts[-2:]) != kpis_relpath(file.date):
        raise DataError(f"{path}: holds the KPIs of {file.date} but its name says otherwise")
    return file


KPI_FILES = FileKind(
    "kpis", under(KPIS_DIR, ".yaml", depth=2), lambda root, rel: read_kpi_file(root / rel)
)
