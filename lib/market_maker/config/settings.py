"""The settings in force: YAML defaults, an optional overlay file, then the environment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from market_maker.config.exit_strategy import ExitStrategySettings
from market_maker.config.lifecycle import LifecycleSettings
from market_maker.config.models import (
    BackfillSettings,
    DataRepositorySettings,
    DecisionSettings,
    ExchangeSettings,
    GridSettings,
    KpiSettings,
    LoggingSettings,
    NotificationSettings,
    PipelineSettings,
    ReplaySettings,
    SnapshotSettings,
    Symbol,
)
from market_maker.config.regime import RegimeSettings

ENV_PREFIX = "MARKET_MAKER_"
ENV_NESTED_DELIMITER = "__"


class Settings(BaseSettings):
    """Everything a run needs to know. Loaded once at a flow's edge and passed down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    environment: str = Field("local", description="Free label: local, staging, production.")
    symbols: Annotated[list[Symbol], NoDecode] = Field(
        default_factory=lambda: ["ETH-USDT"],
        min_length=1,
        description="Symbols collected every hour (in the environment: ETH-USDT,BTC-USDT or a "
        "JSON list).",
    )
    exchange: ExchangeSettings = ExchangeSettings()
    replay: ReplaySettings = ReplaySettings()
    data_repository: DataRepositorySettings = DataRepositorySettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    backfill: BackfillSettings = BackfillSettings()
    pipeline: PipelineSettings = PipelineSettings()
    logging: LoggingSettings = LoggingSettings()
    regime: RegimeSettings = Field(description="config/regime.yaml")
    exit_strategy: ExitStrategySettings = Field(description="config/exit_strategy.yaml")
    lifecycle: LifecycleSettings = Field(description="config/lifecycle.yaml")
    notifications: NotificationSettings = NotificationSettings()
    grids: GridSettings = GridSettings()
    decisions: DecisionSettings = DecisionSettings()
    kpis: KpiSettings = KpiSettings()

    # Set by the loader, not by configuration: where relative paths start.
    project_root: Path = Field(Path("."), exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Files come in through init kwargs (see loader); the environment wins over them.
        # No dotenv and no secrets directory: secrets come from the environment only.
        return (env_settings, init_settings)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        """From the environment: a comma-separated list, or a JSON list."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"not a JSON list ({exc.msg}): give a comma-separated list or a JSON list, "
                    'e.g. ETH-USDT,BTC-USDT or ["ETH-USDT", "BTC-USDT"]'
                ) from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @model_validator(mode="after")
    def _snapshots_hold_the_regime_windows(self) -> Settings:
        needed = self.regime.bars_needed()
        held = {"1h": self.snapshots.window_1h, "4h": self.snapshots.window_4h}
        for timeframe, bars in needed.items():
            if held[timeframe] < bars:
                raise ValueError(
                    f"snapshots.window_{timeframe} is {held[timeframe]} but the regime analysis "
                    f"needs {bars} {timeframe} candles (longest window plus "
                    f"{self.regime.history_hours} h of history): raise it or shorten the windows"
                )
        return self

    def require_symbols(self, symbols: list[str]) -> None:
        """A ConfigurationError naming every symbol asked for that is not configured."""
        unknown = [s for s in symbols if s not in self.symbols]
        if unknown:
            from market_maker.base.errors import ConfigurationError

            raise ConfigurationError(
                f"symbol {', '.join(unknown)} is not configured (symbols: "
                f"{', '.join(self.symbols)}); add it to `symbols` in the configuration"
            )

    def resolve(self, path: Path) -> Path:
        """An absolute path: relative ones are taken from the project root."""
        path = path.expanduser()
        return path if path.is_absolute() else (self.project_root / path).resolve()

    def secret_values(self) -> list[str]:
        """Every secret in force, for the redaction of messages and logs."""
        values = []
        for key in SECRET_FIELDS:
            model: Any = self
            for part in key.split("."):
                model = getattr(model, part)
            values.append(secret_value(model))
        from market_maker.base.redaction import url_credentials

        values.append(url_credentials(self.data_repository.remote_url))
        return [v for v in values if v]

    def public_dict(self) -> dict[str, Any]:
        """The settings without secrets, as plain data (what ``config show`` prints)."""
        data = self.model_dump(mode="json")
        for key in SECRET_FIELDS:
            *sections, field = key.split(".")
            model, target = self, data
            for section in sections:
                model, target = getattr(model, section), target[section]
            target[field] = "(set)" if getattr(model, field) is not None else None
        remote = data["data_repository"]["remote_url"]
        if remote:  # its credentials, if any, are secrets; the rest of it is not
            from market_maker.base.redaction import mask_url

            data["data_repository"]["remote_url"] = mask_url(remote)
        return data

    @property
    def config_version(self) -> str:
        """Git object hash of the canonical settings in force, secrets excluded.

        Reproduce with ``market-maker config show --canonical | git hash-object --stdin``.
        """
        return git_blob_hash(canonical_text(self))


SECRET_FIELDS = (
    "exchange.api_key",
    "exchange.api_secret",
    "exchange.api_passphrase",
    "notifications.pushover.token",
    "notifications.pushover.user_key",
    "notifications.webhook_url",
)


# Settings added after files were written, left out of the canonical text at their default:
# the configuration version of an unchanged configuration stays what those files recorded.
LATER_DEFAULTS = {
    ("snapshots", "period_minutes"): 60,
    ("pipeline", "group_size"): None,
    ("pipeline", "group_base_path"): None,
}


def canonical_text(settings: Settings) -> str:
    data = settings.public_dict()
    for (section, key), default in LATER_DEFAULTS.items():
        if data[section].get(key) == default:
            del data[section][key]
            if not data[section]:  # a later section at its defaults: as if it did not exist
                del data[section]
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False)


def git_blob_hash(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def secret_value(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def env_var_for(path: str) -> str:
    return ENV_PREFIX + path.replace(".", ENV_NESTED_DELIMITER).upper()


def known_env_roots() -> set[str]:
    return {name.upper() for name in Settings.model_fields if name != "project_root"}
