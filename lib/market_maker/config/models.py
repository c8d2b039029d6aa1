"""Configuration models: one frozen pydantic model per section, unknown keys forbidden."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)

from market_maker.base.identifiers import SYMBOL_PATTERN, Symbol
from market_maker.base.timeutil import check_period, utc
from market_maker.base.types import FrozenModel

__all__ = ["SYMBOL_PATTERN", "Symbol"]


Section = FrozenModel


class ExchangeSettings(Section):
    name: Literal["kucoin", "replay"] = Field(
        "replay", description="Where candles come from: the KuCoin REST API or recorded data."
    )
    base_url: str = Field(
        "https://api.kucoin.com",
        description="KuCoin REST base URL; point it at a proxy, the sandbox or a test server.",
    )
    api_key: SecretStr | None = Field(None, description="From the environment only.")
    api_secret: SecretStr | None = Field(None, description="From the environment only.")
    api_passphrase: SecretStr | None = Field(None, description="From the environment only.")
    key_version: int = Field(3, ge=1, le=3, description="KC-API-KEY-VERSION header.")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per-request timeout.")
    retry_attempts: int = Field(3, ge=1, le=5, description="Attempts per call, first included.")
    retry_max_wait_seconds: float = Field(
        30.0, gt=0, description="Longest pause between attempts, even if the exchange asks more."
    )
    circuit_breaker_failures: PositiveInt = Field(
        3, description="Consecutive failed calls that open the circuit breaker."
    )
    circuit_breaker_open_minutes: float = Field(
        30.0, gt=0, description="How long an open circuit refuses calls."
    )
    allow_no_ip_whitelist: bool = Field(
        False,
        description="Accept a KuCoin key with no IP whitelist. The design makes the whitelist "
        "mandatory: a leaked key without one works from anywhere.",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"base_url {value!r} must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _key_complete(self) -> ExchangeSettings:
        given = [self.api_key, self.api_secret, self.api_passphrase]
        if any(given) and not all(given):
            raise ValueError(
                "api_key, api_secret and api_passphrase must be set together "
                "(MARKET_MAKER_EXCHANGE__API_KEY, __API_SECRET, __API_PASSPHRASE)"
            )
        return self

    @property
    def has_key(self) -> bool:
        return self.api_key is not None


class ReplaySettings(Section):
    data_file: Path = Field(
        Path("data/sample/ETHUSDT-1m-2023-06-14_2023-08-31-binance-futures.csv.gz"),
        description="Recorded 1-minute candles (CSV or CSV.gz: timestamp_ms,open,high,low,close,"
        "volume). Relative paths are relative to the project root.",
    )
    symbol: Symbol = Field("ETH-USDT", description="The symbol the recorded data stands for.")
    now: datetime | None = Field(
        None, description="The replay clock; by default the end of the recorded data."
    )

    @field_validator("now")
    @classmethod
    def _utc_now(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)


class DataRepositorySettings(Section):
    base_path: Path = Field(
        Path("var/data-repo"),
        description="Working copy of the Git data repository. Relative to the project root.",
    )
    remote_url: str | None = Field(
        "var/data-remote.git",
        description="Remote to clone from and push to (URL or path); null for a local-only store.",
    )
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$")
    author_name: str = "market-maker"
    author_email: str = "market-maker@localhost"
    concurrency_limit: str = Field(
        "data-repository",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="The Prefect global concurrency limit that serialises the writers of this "
        "working copy. Working copies of one remote that run side by side (symbol groups "
        "fanned out on Kubernetes, each with its own volume) each take their own.",
    )
    lock_timeout_seconds: float = Field(
        600.0, gt=0, description="How long a run waits for another run's lock on the repository."
    )
    lease_seconds: float = Field(
        60.0,
        ge=60,
        le=600,
        description="Lease of the Prefect concurrency slot a writer holds, renewed while it "
        "runs: a writer killed outright blocks the next one for at most this long (plus the "
        "server's 15 s sweep). Prefect accepts 60 s at least.",
    )
    network_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Longest a git fetch, push or clone may take; a remote that never answers "
        "is then treated as unreachable (the commit stays local for the next run).",
    )

    @field_validator("base_path", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # An empty path is the project root: the store would commit there.
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(
                "is empty: set it to a directory of its own for the data repository's working "
                "copy (MARKET_MAKER_DATA_REPOSITORY__BASE_PATH)"
            )
        return value


class SnapshotSettings(Section):
    period_minutes: int = Field(
        60,
        description="The collection period: one snapshot, one metrics file and one scheduled "
        "run per period; one of 60, 30, 20, 15, 10, 5. The regime analysis keeps its 1h and "
        "4h timeframes (docs/data-plane.md, Collection period).",
    )
    window_1h: int = Field(
        240, ge=200, description="Closed 1h candles in each snapshot, ending at its own hour."
    )
    window_4h: int = Field(100, ge=100, description="Closed 4h candles in each snapshot.")
    price_scales: dict[Symbol, PositiveInt] = Field(
        default_factory=lambda: {"ETH-USDT": 100},
        description="Integer price scale per symbol, from its tick size (ETH-USDT ticks 0.01).",
    )
    default_price_scale: PositiveInt = Field(100, description="For symbols not listed above.")
    pack_after_months: PositiveInt | None = Field(
        None,
        description="Retention: null keeps every snapshot as its own file; N packs each month "
        "that ended more than N months ago into one compressed file per symbol and month "
        "(snapshots/{SYMBOL}/{YYYY}/{MM}.zip, read transparently) at the monthly maintenance. "
        "Nothing is ever deleted.",
    )

    @field_validator("period_minutes")
    @classmethod
    def _divides_the_hour(cls, value: int) -> int:
        return check_period(value)

    def price_scale(self, symbol: str) -> int:
        return self.price_scales.get(symbol, self.default_price_scale)


class BackfillSettings(Section):
    chunk_hours: int = Field(
        168, ge=1, le=24 * 31, description="Hours fetched, written and committed together."
    )


class PipelineSettings(Section):
    group_size: int | None = Field(
        None,
        ge=1,
        description="Many symbols: the scheduled hourly pipeline splits `symbols` into groups "
        "of at most this many, in their order (group-1, group-2, ...), each run as its own run "
        "of the hourly-pipeline-group deployment on the work pool, with its own working copy "
        "and concurrency limit. null: every symbol in one run.",
    )
    group_base_path: Path | None = Field(
        None,
        description="Where each group's working copy is: {group_base_path}/{group}; null: "
        "beside data_repository.base_path, {base_path}-groups/{group}.",
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = Field(
        "text", description="json writes one JSON object per line for a log stack to index."
    )


class PushoverSettings(Section):
    api_url: str = Field(
        "https://api.pushover.net/1/messages.json",
        description="Pushover's messages endpoint; a test server or proxy can stand in.",
    )
    token: SecretStr | None = Field(
        None, description="Application token (MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN)."
    )
    user_key: SecretStr | None = Field(
        None, description="User or group key (MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY)."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=5, description="Tries on a 5xx; a 4xx is never retried.")
    retry_pause_seconds: float = Field(
        5.0, ge=5.0, description="Pause before trying again after a 5xx (Pushover: >= 5 s)."
    )
    emergency_retry_seconds: int = Field(
        60, ge=30, description="MANDATORY_EXIT (priority 2): repeat every N s until acknowledged."
    )
    emergency_expire_seconds: int = Field(3600, ge=30, le=10800, description="... for at most N s.")

    @model_validator(mode="after")
    def _key_pair(self) -> PushoverSettings:
        if (self.token is None) != (self.user_key is None):
            raise ValueError("token and user_key must be set together")
        return self

    @property
    def configured(self) -> bool:
        return self.token is not None


class RateLimits(Section):
    """Hours between notifications of one exit state while it persists, or comes back after an
    ease (an escalation to a state not alerted within its limit notifies at once)."""

    WARNING: float = Field(4.0, gt=0)
    LATEST_ACCEPTABLE_EXIT: float = Field(2.0, gt=0)
    MANDATORY_EXIT: float = Field(1.0, gt=0)


class AcknowledgedSettings(Section):
    """Once the operator acknowledged an emergency (or recorded declining or ignoring its
    decision): no more emergencies for that state of that grid, only reminders, until the grid
    is stopped or the state changes."""

    reminder_hours: float = Field(
        4.0, gt=0, description="Hours between reminders while the grid still runs."
    )
    reminder_priority: int = Field(
        0, ge=-2, le=1, description="Pushover priority of a reminder (below the emergency's 2)."
    )


class ChartSettings(Section):
    enabled: bool = Field(True, description="Attach a PNG chart to exit alerts sent by Pushover.")
    hours: int = Field(72, ge=12, le=240, description="Hours of price and regime it shows.")


class DigestSettings(Section):
    enabled: bool = Field(True, description="Send the daily digest after the daily KPI batch.")
    priority: int = Field(-1, ge=-2, le=-1, description="-1 quiet, -2 no alert at all.")


class NotificationSettings(Section):
    pushover: PushoverSettings = PushoverSettings()
    warning_repeat_priority: int = Field(
        -1,
        ge=-2,
        le=0,
        description="Pushover priority of a WARNING repeated while it holds (-1: quiet; the "
        "first WARNING of an episode goes at 0).",
    )
    webhook_url: SecretStr | None = Field(
        None,
        description="Receives the same payload as Pushover, as JSON (optional). Treated as a "
        "secret (such URLs usually embed a token): MARKET_MAKER_NOTIFICATIONS__WEBHOOK_URL.",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    step_retries: int = Field(
        2,
        ge=0,
        le=5,
        description="Times the pipeline's notify step is run again after an undelivered "
        "message, on top of the Pushover client's own attempts; the analysis is not redone.",
    )
    step_retry_delay_seconds: float = Field(
        60.0, ge=0, le=900, description="Pause before the notify step runs again."
    )
    rate_limit_hours: RateLimits = RateLimits()
    acknowledged: AcknowledgedSettings = AcknowledgedSettings()
    chart: ChartSettings = ChartSettings()
    digest: DigestSettings = DigestSettings()
    ui_url: str | None = Field(
        None,
        description="Prefect UI base URL for links in messages; default: PREFECT_UI_URL.",
    )


class GridSettings(Section):
    fee_rate: float = Field(
        0.001, ge=0, lt=0.05, description="Fee per fill (KuCoin spot: 0.1 %); a pair pays it twice."
    )
    capital_mode: Literal["SINGLE_GRID"] = Field(
        "SINGLE_GRID", description="At most one running grid per symbol."
    )


class ExpiryMinutes(Section):
    """Minutes a recommendation stays actionable, by the verdict it was made under; null:
    no deadline (a range leaves time). Every verdict must be given: a typo is an error."""

    TREND: PositiveInt | None = 15
    TRANSITION: PositiveInt | None = 30
    RANGE_WEAK: PositiveInt | None = None
    RANGE_OK: PositiveInt | None = None
    REFUSED: PositiveInt | None = Field(
        15, description="When the analysis refused: as cautious as under TREND."
    )


class DecisionSettings(Section):
    """How long a recommendation stays actionable (minutes after issue)."""

    expiry_minutes: ExpiryMinutes = ExpiryMinutes()

    def minutes_for(self, verdict: object) -> int | None:
        return getattr(self.expiry_minutes, str(verdict) if verdict else "REFUSED")


class KpiSettings(Section):
    """How the system scores its own recommendations (docs/kpis.md)."""

    break_beyond_pct: float = Field(
        0.0,
        ge=0,
        lt=50,
        description="A range break is an hourly close this far (percent) beyond a grid bound; "
        "0: any close outside the grid, as exit-study measures.",
    )
    signal_horizon_hours: int = Field(
        24,
        ge=1,
        le=168,
        description="An exit signal is false when price stays inside the grid this long after "
        "it (FER); a break is preceded by a signal raised within this many hours (SLAR).",
    )
    advance_warning_hours: float = Field(
        2.0, gt=0, description="EAW: a break is warned in time with more than this lead."
    )
    operator_delay_minutes: int = Field(
        15,
        ge=0,
        le=240,
        description="Between a recommendation and the operator acting on it: the price a "
        "followed STOP_GRID is valued at (evaluation entries).",
    )
    fee_rate: float | None = Field(
        None, ge=0, lt=0.05, description="Per fill for grid profits; null: grids.fee_rate."
    )
    horizons_hours: list[int] = Field(
        default_factory=lambda: [24, 72, 168],
        min_length=1,
        description="When a decision's outcome is evaluated: 24 h, 72 h and 7 d after issue.",
    )
    dashboard_days: int = Field(
        60, ge=7, le=3660, description="Days of price, regime and exit states on the dashboard."
    )
    late_action_minutes: int = Field(
        0,
        ge=0,
        description="An action this long past a decision's expires_at is still on time.",
    )
