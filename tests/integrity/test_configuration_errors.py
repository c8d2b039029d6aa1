"""Configuration errors are one clear line: the variable or key at fault and the form it needs,
never a traceback and never a secret's value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from market_maker.config import load_settings
from tests.integrity.conftest import Run

SECRET = "s3cr3t-value-that-must-never-be-printed"


@pytest.mark.parametrize(
    ("value", "symbols"),
    [
        ("ETH-USDT", ["ETH-USDT"]),
        ("ETH-USDT,BTC-USDT", ["ETH-USDT", "BTC-USDT"]),
        (" ETH-USDT , BTC-USDT ", ["ETH-USDT", "BTC-USDT"]),
        ('["ETH-USDT"]', ["ETH-USDT"]),
        ('["ETH-USDT", "BTC-USDT"]', ["ETH-USDT", "BTC-USDT"]),
    ],
)
def test_symbols_in_the_environment_as_plain_text_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, symbols: list[str]
) -> None:
    monkeypatch.setenv("MARKET_MAKER_SYMBOLS", value)
    assert load_settings().symbols == symbols


def test_config_show_prints_the_symbols_given_as_a_plain_one_symbol_value(
    monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Run]
) -> None:
    monkeypatch.setenv("MARKET_MAKER_SYMBOLS", "BTC-USDT")
    run = cli("config", "show")
    assert run.code == 0 and run.err == ""
    assert yaml.safe_load(run.out)["symbols"] == ["BTC-USDT"]


def assert_one_line(run: Run) -> str:
    assert run.code == 2
    assert "Traceback" not in run.err
    assert len(run.err_lines) == 1, run.err
    [line] = run.err_lines
    assert line.startswith("market-maker config: ")
    return line


@pytest.mark.parametrize(
    ("name", "value", "form"),
    [
        ("MARKET_MAKER_SYMBOLS", "[bad", "a comma-separated list or a JSON list"),
        ("MARKET_MAKER_SYMBOLS", '{"ETH-USDT": 1}', "must look like BASE-QUOTE in capitals"),
        ("MARKET_MAKER_SNAPSHOTS__PRICE_SCALES", "foo", 'a JSON object, e.g. {"ETH-USDT": 100}'),
    ],
    ids=["symbols-broken-json", "symbols-an-object", "price-scales"],
)
def test_a_value_in_the_wrong_form_is_one_line_naming_the_variable_and_the_form(
    monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Run], name: str, value: str, form: str
) -> None:
    monkeypatch.setenv(name, value)

    line = assert_one_line(cli("config", "show"))

    assert name in line
    assert form in line


@pytest.mark.parametrize(
    ("overlay", "key", "variable"),
    [
        (
            {"notifications": {"pushover": {"token": SECRET}}},
            "notifications.pushover.token",
            "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN",
        ),
        (
            {"notifications": {"webhook_url": f"https://hooks.example.com/{SECRET}"}},
            "notifications.webhook_url",
            "MARKET_MAKER_NOTIFICATIONS__WEBHOOK_URL",
        ),
        (
            {"exchange": {"name": "kucoin", "api_key": SECRET}},
            "exchange.api_key",
            "MARKET_MAKER_EXCHANGE__API_KEY",
        ),
    ],
    ids=["pushover-token", "webhook-url", "exchange-api-key"],
)
def test_a_secret_in_a_config_file_is_refused_naming_the_key_and_the_variable_not_the_value(
    tmp_path: Path,
    cli: Callable[..., Run],
    overlay: dict[str, Any],
    key: str,
    variable: str,
) -> None:
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))

    run = cli("--config", str(path), "config", "show")

    line = assert_one_line(run)
    assert key in line and variable in line and str(path) in line
    assert SECRET not in run.err and SECRET not in run.out


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "staging.yaml"
    path.write_text("environment: staging\nsymbols: [ETH-USDT, BTC-USDT]\n")
    return path


@pytest.mark.parametrize("position", ["before", "after"])
def test_config_applies_the_file_before_or_after_the_command(
    staging: Path, cli: Callable[..., Run], position: str
) -> None:
    argv = ["config", "show"]
    argv = ["--config", str(staging), *argv] if position == "before" else [*argv, "--config"]
    if position == "after":
        argv.append(str(staging))

    run = cli(*argv)

    assert run.code == 0, run.err
    shown = yaml.safe_load(run.out)
    assert shown["environment"] == "staging"
    assert shown["symbols"] == ["ETH-USDT", "BTC-USDT"]


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_missing_config_file_in_either_position_is_one_line(
    tmp_path: Path, cli: Callable[..., Run], position: str
) -> None:
    missing = tmp_path / "no-such.yaml"
    argv = (
        ["--config", str(missing), "config", "show"]
        if position == "before"
        else ["config", "show", "--config", str(missing)]
    )

    line = assert_one_line(cli(*argv))

    assert str(missing) in line and "does not exist" in line


def test_without_a_config_file_the_environment_is_the_default(cli: Callable[..., Run]) -> None:
    run = cli("config", "show")
    assert run.code == 0
    assert yaml.safe_load(run.out)["environment"] == "local"
