"""Configuration: YAML defaults, overlay file, environment; failures name the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_maker.base.errors import ConfigurationError
from market_maker.config import load_settings
from market_maker.config.settings import canonical_text, git_blob_hash


def test_defaults_load_the_embedded_replay_configuration() -> None:
    settings = load_settings()
    assert settings.exchange.name == "replay"
    assert settings.exchange.key_version == 3
    assert settings.symbols == ["ETH-USDT"]
    assert settings.resolve(settings.replay.data_file).is_file()


def test_nested_environment_variables_override_the_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("MARKET_MAKER_DATA_REPOSITORY__BASE_PATH", "/tmp/elsewhere")
    monkeypatch.setenv("MARKET_MAKER_SYMBOLS", '["ETH-USDT", "BTC-USDT"]')
    settings = load_settings()
    assert settings.exchange.base_url == "http://127.0.0.1:9"
    assert settings.exchange.name == "replay"  # the rest of the section stays from the file
    assert settings.data_repository.base_path == Path("/tmp/elsewhere")
    assert settings.symbols == ["ETH-USDT", "BTC-USDT"]


def test_an_overlay_file_is_merged_key_by_key(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("exchange:\n  name: kucoin\nlogging:\n  format: json\n")
    settings = load_settings(overlay)
    assert settings.exchange.name == "kucoin"
    assert settings.exchange.timeout_seconds == 10  # untouched keys keep their defaults
    assert settings.logging.format == "json"


def test_the_environment_wins_over_the_overlay_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("exchange:\n  key_version: 2\n")
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__KEY_VERSION", "1")
    assert load_settings(overlay).exchange.key_version == 1


def test_the_overlay_can_come_from_MARKET_MAKER_CONFIG(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("environment: staging\n")
    monkeypatch.setenv("MARKET_MAKER_CONFIG", str(overlay))
    assert load_settings().environment == "staging"


def test_an_unknown_key_in_a_file_names_the_key_the_value_and_the_file(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("exchange:\n  base_ulr: http://typo\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(overlay)
    message = str(caught.value)
    assert "exchange.base_ulr" in message
    assert "http://typo" in message
    assert str(overlay) in message


def test_an_invalid_environment_value_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__KEY_VERSION", "7")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "exchange.key_version" in message
    assert "'7'" in message
    assert "MARKET_MAKER_EXCHANGE__KEY_VERSION" in message


def test_an_unknown_environment_section_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANEG__NAME", "kucoin")
    with pytest.raises(ConfigurationError, match="MARKET_MAKER_EXCHANEG__NAME"):
        load_settings()


def test_an_unknown_nested_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__BASE_ULR", "http://typo")
    with pytest.raises(ConfigurationError, match=r"exchange\.base_ulr"):
        load_settings()


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("symbols: [eth-usdt]\n", "symbols.0"),
        ("exchange:\n  name: binance\n", "exchange.name"),
        ("exchange:\n  base_url: ftp://x\n", "exchange.base_url"),
        ("snapshots:\n  window_1h: 50\n", "snapshots.window_1h"),
        ("logging:\n  format: xml\n", "logging.format"),
    ],
)
def test_invalid_values_are_refused_with_their_key(
    tmp_path: Path, yaml_text: str, key: str
) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml_text)
    with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
        load_settings(overlay)


def test_a_secret_in_a_file_is_refused(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("exchange:\n  api_secret: hunter2\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(overlay)
    assert "MARKET_MAKER_EXCHANGE__API_SECRET" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_partial_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_KEY", "k-123")
    with pytest.raises(ConfigurationError, match="set together"):
        load_settings()


def _with_key(monkeypatch: pytest.MonkeyPatch, secret: str):
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_KEY", "key-abc")
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_SECRET", secret)
    monkeypatch.setenv("MARKET_MAKER_EXCHANGE__API_PASSPHRASE", "pass-xyz")
    return load_settings()


def test_secrets_never_appear_in_dumps_or_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _with_key(monkeypatch, "very-secret-value")
    for text in (repr(settings), str(settings.public_dict()), canonical_text(settings)):
        assert "very-secret-value" not in text
        assert "pass-xyz" not in text
        assert "key-abc" not in text


def test_config_version_is_the_git_hash_of_the_canonical_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.config_version == git_blob_hash(canonical_text(settings))
    assert len(settings.config_version) == 40
    monkeypatch.setenv("MARKET_MAKER_SNAPSHOTS__WINDOW_1H", "300")
    assert load_settings().config_version != settings.config_version


def test_config_version_does_not_depend_on_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _with_key(monkeypatch, "secret-one").config_version
    second = _with_key(monkeypatch, "secret-two").config_version
    assert first == second


def test_git_blob_hash_matches_git_hash_object(tmp_path: Path) -> None:
    import subprocess

    text = canonical_text(load_settings())
    path = tmp_path / "c.yaml"
    path.write_text(text)
    expected = subprocess.run(
        ["git", "hash-object", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_blob_hash(text) == expected


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        # Settings keyed by a verdict take exactly the verdicts: a typo is an error.
        ("MARKET_MAKER_DECISIONS__EXPIRY_MINUTES__TRND", "5", "TRND"),
        # A warning threshold above the error one would never warn.
        ("MARKET_MAKER_EXIT_STRATEGY__DURATION_WARNING_SECONDS", "600", "duration_warning_seconds"),
    ],
)
def test_settings_that_could_drift_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:

    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=named):
        load_settings()
