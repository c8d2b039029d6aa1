"""Load and validate the settings in force; fail fast with the key and value at fault."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from market_maker.base import redaction
from market_maker.base.errors import ConfigurationError
from market_maker.config.settings import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    SECRET_FIELDS,
    Settings,
    env_var_for,
    known_env_roots,
)

# Environment variables with the prefix that are not settings keys.
CONFIG_FILE_ENV = "MARKET_MAKER_CONFIG"
CONFIG_DIR_ENV = "MARKET_MAKER_CONFIG_DIR"
CODE_VERSION_ENV = "MARKET_MAKER_CODE_VERSION"
# Read by prefect.yaml at deploy time and by the test-data locator, not by the settings.
OTHER_ENV = {"MARKET_MAKER_IMAGE", "MARKET_MAKER_SHARED_DATA"}
# A deployment's time limit, read by the flows at import (see prefect.yaml).
FLOW_TIMEOUT_ENV = "MARKET_MAKER_FLOW_TIMEOUT_SECONDS"
# Which Prefect server the command line uses (read before the settings; local_prefect/server.py).
SERVER_ENV = {"MARKET_MAKER_PREFECT_SERVER", "MARKET_MAKER_PREFECT_SERVER_PORT"}
META_ENV = {
    CONFIG_FILE_ENV,
    CONFIG_DIR_ENV,
    CODE_VERSION_ENV,
    FLOW_TIMEOUT_ENV,
    *OTHER_ENV,
    *SERVER_ENV,
}

REMOTE_URL_KEY = "data_repository.remote_url"
REMOTE_URL_ENV = env_var_for(REMOTE_URL_KEY)
# How a structured setting is written in an environment variable, for error messages.
ENV_EXAMPLES = {
    "symbols": "a comma-separated list or a JSON list, e.g. ETH-USDT,BTC-USDT",
    "snapshots__price_scales": 'a JSON object, e.g. {"ETH-USDT": 100}',
}

DEFAULT_FILE = "default.yaml"
# Sections kept in files of their own under config/, loaded under their key.
SECTION_FILES = {
    "regime": "regime.yaml",
    "exit_strategy": "exit_strategy.yaml",
    "lifecycle": "lifecycle.yaml",
}


def project_root() -> Path:
    """The directory holding ``config/``: from the environment, the source tree, or the cwd."""
    if configured := os.environ.get(CONFIG_DIR_ENV):
        return Path(configured).expanduser().resolve().parent
    source_tree = Path(__file__).resolve().parents[3]
    if (source_tree / "config" / DEFAULT_FILE).is_file():
        return source_tree
    return Path.cwd()


def config_dir() -> Path:
    if configured := os.environ.get(CONFIG_DIR_ENV):
        return Path(configured).expanduser().resolve()
    return project_root() / "config"


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Defaults from ``config/default.yaml``, then ``config_file`` (or ``$MARKET_MAKER_CONFIG``),
    then ``MARKET_MAKER_*`` environment variables.

    Raises ConfigurationError naming every bad key, its value and where it came from, on one
    line, with no secret value in it.
    """
    # Before anything is parsed: a message about a bad value must not echo a secret.
    redaction.register_environment(env_var_for(field) for field in SECRET_FIELDS)
    redaction.register([redaction.url_credentials(os.environ.get(REMOTE_URL_ENV))])
    files = [config_dir() / DEFAULT_FILE]
    overlay = config_file or os.environ.get(CONFIG_FILE_ENV)
    if overlay:
        files.append(Path(overlay).expanduser())

    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    _merge(merged, _read_yaml(files[0]), origin, files[0], prefix="")
    for section, name in SECTION_FILES.items():
        path = config_dir() / name
        _merge(merged, {section: _read_yaml(path)}, origin, path, prefix="")
    for path in files[1:]:
        _merge(merged, _read_yaml(path), origin, path, prefix="")
    _check_environment()

    try:
        settings = Settings(**merged, project_root=project_root())
    except ValidationError as exc:
        raise ConfigurationError(redaction.redact(_describe(exc, origin))) from None
    except SettingsError as exc:
        raise ConfigurationError(redaction.redact(_describe_env_error(exc))) from None
    redaction.register(settings.secret_values())
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigurationError(f"config file {path} does not exist") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path} must hold a mapping of keys, not {data!r}")
    return data


def _refuse_secrets(data: Any, path: Path, prefix: str) -> None:
    """A secret anywhere in a file (at any depth, set or empty) stops the run."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted in SECRET_FIELDS and value is not None:
            raise ConfigurationError(
                f"config file {path} sets the secret {dotted}: secrets come only from the "
                f"environment ({env_var_for(dotted)}); remove it from the file"
            )
        if dotted == REMOTE_URL_KEY and isinstance(value, str) and redaction.url_credentials(value):
            raise ConfigurationError(
                f"config file {path} sets {dotted} with credentials in the URL: credentials "
                f"come only from the environment ({REMOTE_URL_ENV}); remove them from the file"
            )
        _refuse_secrets(value, path, f"{dotted}.")


def _merge(
    into: dict[str, Any], data: dict[str, Any], origin: dict[str, Path], path: Path, prefix: str
) -> None:
    if not prefix:
        _refuse_secrets(data, path, prefix)
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, origin, path, prefix=f"{dotted}.")
        else:
            into[key] = value
        origin[dotted] = path


def _check_environment() -> None:
    roots = known_env_roots()
    for name in sorted(os.environ):
        if not name.startswith(ENV_PREFIX) or name in META_ENV:
            continue
        root = name[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER)[0]
        if root not in roots:
            raise ConfigurationError(
                f"environment variable {name} names no configuration key "
                f"(known sections: {', '.join(sorted(r.lower() for r in roots))})"
            )


def _describe(exc: ValidationError, origin: dict[str, Path]) -> str:
    """One line: every bad key, its value (never a secret, never a whole section), its source."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(settings)"
        problems.append(
            f"{key}{_shown_value(key, error.get('input'))}: "
            f"{error['msg'].removeprefix('Value error, ')} [{_source(key, origin)}]"
        )
    return f"invalid configuration: {'; '.join(problems)}"


def _shown_value(key: str, value: Any) -> str:
    """`` = value`` for a scalar of a key that holds no secret; nothing otherwise.

    A section's input is the whole mapping, secrets included, so it is never shown.
    """
    if any(key == s or key.startswith(f"{s}.") or s.startswith(f"{key}.") for s in SECRET_FIELDS):
        return ""
    if isinstance(value, dict | list | tuple | set) or value is None:
        return ""
    if key == REMOTE_URL_KEY and isinstance(value, str):
        value = redaction.mask_url(value)
    text = repr(value)
    return f" = {text if len(text) <= 80 else text[:77] + '...'}"


def _describe_env_error(exc: SettingsError) -> str:
    """pydantic-settings could not decode an environment variable (a list or mapping as JSON)."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else ""
    names = _env_names(field) if field else []
    if not names:
        return f"invalid configuration in the environment: {exc}"
    name = names[-1]
    example = ENV_EXAMPLES.get(
        name.removeprefix(ENV_PREFIX).lower(), "valid JSON for a list or mapping"
    )
    got = _shown_value(
        name.removeprefix(ENV_PREFIX).lower().replace(ENV_NESTED_DELIMITER, "."),
        os.environ.get(name),
    )
    return f"environment variable {name} is not in the form it must have: give {example}" + (
        f" (got{got.removeprefix(' =')})" if got else ""
    )


def _env_names(key: str) -> list[str]:
    """Environment variables that set ``key`` or something inside it."""
    var = env_var_for(key)
    return sorted(n for n in os.environ if n == var or n.startswith(var + ENV_NESTED_DELIMITER))


def _source(key: str, origin: dict[str, Path]) -> str:
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        candidate = ".".join(parts[:depth])
        if names := _env_names(candidate):
            return f"from environment {', '.join(names)}"
        if candidate in origin:
            return f"from {origin[candidate]}"
    return "default"
