"""Load and validate the settings in force; fail fast with the key and value at fault."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from market_maker.config.settings import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    SECRET_FIELDS,
    Settings,
    env_var_for,
    known_env_roots,
)
from market_maker.errors import ConfigurationError

# Environment variables with the prefix that are not settings keys.
CONFIG_FILE_ENV = "MARKET_MAKER_CONFIG"
CONFIG_DIR_ENV = "MARKET_MAKER_CONFIG_DIR"
CODE_VERSION_ENV = "MARKET_MAKER_CODE_VERSION"
# Read by prefect.yaml at deploy time and by the test-data locator, not by the settings.
OTHER_ENV = {"MARKET_MAKER_IMAGE", "MARKET_MAKER_SHARED_DATA"}
META_ENV = {CONFIG_FILE_ENV, CONFIG_DIR_ENV, CODE_VERSION_ENV, *OTHER_ENV}

DEFAULT_FILE = "default.yaml"
# Sections kept in files of their own under config/, loaded under their key.
SECTION_FILES = {"regime": "regime.yaml", "exit_strategy": "exit_strategy.yaml"}


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

    Raises ConfigurationError naming every bad key, its value and where it came from.
    """
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
        return Settings(**merged, project_root=project_root())
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, origin)) from None


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


def _merge(
    into: dict[str, Any], data: dict[str, Any], origin: dict[str, Path], path: Path, prefix: str
) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted in SECRET_FIELDS and value is not None:
            raise ConfigurationError(
                f"config file {path} sets the secret {dotted}: secrets come only from the "
                f"environment ({env_var_for(dotted)}); remove it from the file"
            )
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
    lines = [f"invalid configuration ({exc.error_count()} problem(s)):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        value = "(hidden)" if any(key.startswith(s) for s in SECRET_FIELDS) else error.get("input")
        lines.append(f"  {key} = {value!r}: {error['msg']} [{_source(key, origin)}]")
    return "\n".join(lines)


def _source(key: str, origin: dict[str, Path]) -> str:
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        candidate = ".".join(parts[:depth])
        if env_var_for(candidate) in os.environ:
            return f"from environment {env_var_for(candidate)}"
        if candidate in origin:
            return f"from {origin[candidate]}"
    return "default"
