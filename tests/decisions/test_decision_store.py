"""Decision records: written once, never overwritten or edited; later facts are new files."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from market_maker.base.errors import DataError
from market_maker.config import Settings, load_settings
from market_maker.decisions.model import (
    Decision,
    EvaluationData,
    Excursion,
    GridRef,
    decision_id,
    decision_relpath,
)
from market_maker.decisions.states import ExitState, Recommendation
from market_maker.decisions.store import DecisionStore, ImmutableRecordError
from market_maker.exchange.replay import load_recorded_minutes
from market_maker.grids.book import GridBook
from market_maker.pipeline.steps import HourServices, evaluate_exit
from market_maker.regime.model import MetricsFile, Verdict
from market_maker.regime.recording_analysis import analyze_series
from tests.conftest import SAMPLE_FILE
from tests.exit_hours import exit_services
from tests.grid_files import grid_data

HOUR = datetime(2023, 8, 15, 10, tzinfo=UTC)


def decision(hour: datetime = HOUR, **changes: object) -> Decision:
    issued = hour + timedelta(hours=1)
    data: dict[str, object] = {
        "id": decision_id("ETH-USDT", issued),
        "symbol": "ETH-USDT",
        "hour": hour,
        "issued_at": issued,
        "expires_at": issued + timedelta(minutes=60),
        "recommendation": Recommendation.HOLD,
        "exit_state": ExitState.NORMAL,
        "previous_exit_state": ExitState.NORMAL,
        "verdict": Verdict.RANGE_OK,
        "confidence": 0.81,
        "reasons": ["no exit condition met"],
        "metrics": {"price": 1840.5, "adx": 14.2},
        "grid": GridRef(grid_id="eth-grid-1", lower_price=1780, upper_price=1900, levels=20),
        "metrics_file": "metrics/ETH-USDT/2023-08-15-10.yaml",
        "config_version": "c0ffee",
        "code_version": "0.1.0",
    }
    data.update(changes)
    return Decision.model_validate(data)


def test_a_decision_is_filed_under_its_issue_day_and_time(tmp_path: Path) -> None:
    path, written = DecisionStore(tmp_path).write(decision())
    assert written
    assert path == tmp_path / "decisions/2023-08-15/dec-ETH-USDT-110000.yaml"
    assert yaml.safe_load(path.read_text())["id"] == "dec-ETH-USDT-20230815-110000"


def test_the_last_hour_of_a_day_is_issued_and_filed_on_the_next_day(tmp_path: Path) -> None:
    late = decision(datetime(2023, 8, 15, 23, tzinfo=UTC))
    path, _ = DecisionStore(tmp_path).write(late)
    assert path == tmp_path / "decisions/2023-08-16/dec-ETH-USDT-000000.yaml"
    assert late.id == "dec-ETH-USDT-20230816-000000"
    assert decision_relpath("ETH-USDT", late.issued_at) == path.relative_to(tmp_path)


def test_rewriting_an_identical_decision_is_a_no_op_that_reports_not_written(
    tmp_path: Path,
) -> None:
    store = DecisionStore(tmp_path)
    path, _ = store.write(decision())
    before = path.stat().st_mtime_ns, path.read_bytes()

    again, written = store.write(decision())

    assert again == path and not written
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_a_decision_with_other_content_cannot_overwrite_the_record(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    path, _ = store.write(decision())
    before = path.read_bytes()
    changed = decision(recommendation=Recommendation.STOP_GRID, exit_state=ExitState.WARNING)

    with pytest.raises(ImmutableRecordError, match="immutable"):
        store.write(changed)
    assert path.read_bytes() == before


def test_a_decision_cannot_be_edited_in_memory_or_by_hand(tmp_path: Path) -> None:
    record = decision()
    with pytest.raises(ValidationError, match="frozen"):
        record.reasons = ["changed my mind"]  # type: ignore[misc]
    store = DecisionStore(tmp_path)
    path, _ = store.write(record)
    path.write_text(path.read_text().replace("HOLD", "STOP_GRID"))

    with pytest.raises(ImmutableRecordError):
        store.write(record)  # a rerun does not silently repair (or hide) an edited record


def outcome(horizon: str) -> dict:
    """An evaluation entry's data, as the daily KPI batch writes it."""
    return EvaluationData(
        horizon=horizon,
        window_start=HOUR + timedelta(hours=1),
        window_end=HOUR + timedelta(hours=25),
        price=1850.0,
        stop_price=1849.0,
        close_at_end=1790.0,
        broke=False,
        max_adverse_excursion=Excursion(price=1781.0, pct=3.7, usd=4.2),
        usd_if_kept=-3.1,
        usd_if_stopped=-0.05,
        usd_if_followed=-0.05,
        usd_if_ignored=-3.1,
        recommendation_quality="wrong",
        quality_reason="price stayed inside",
        action_quality="no_action",
    ).model_dump(mode="json")


def test_later_facts_are_appended_as_new_files_with_increasing_sequence_numbers(
    tmp_path: Path,
) -> None:
    store = DecisionStore(tmp_path)
    path, _ = store.write(decision())
    original = path.read_bytes()
    recorded = HOUR + timedelta(hours=1, minutes=7)

    first, action = store.act(decision().id, "ignored", recorded, note="asleep")
    first_bytes = first.read_bytes()
    second = store.append(decision().id, "evaluation", outcome("24h"), recorded)
    third = store.append(decision().id, "evaluation", outcome("72h"), recorded)

    assert [p.name for p in (first, second, third)] == [
        "dec-ETH-USDT-110000.01-action.yaml",
        "dec-ETH-USDT-110000.02-evaluation.yaml",
        "dec-ETH-USDT-110000.03-evaluation.yaml",
    ]
    assert first.read_bytes() == first_bytes
    assert path.read_bytes() == original
    entries = store.entries(decision().id)
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert [e.kind for e in entries] == ["action", "evaluation", "evaluation"]
    assert entries[2].data == outcome("72h")
    assert not action.late  # seven minutes after issue, within the hour it holds
    _, late = store.act(decision().id, "declined", recorded + timedelta(hours=1))
    assert late.late


def test_an_action_is_recorded_once_and_a_final_one_is_never_contradicted(
    tmp_path: Path,
) -> None:
    store = DecisionStore(tmp_path)
    store.write(decision())
    at = HOUR + timedelta(hours=1, minutes=5)
    assert store.check_action(decision().id, "ignored") is None

    store.act(decision().id, "ignored", at)
    assert store.check_action(decision().id, "ignored").at == at  # the same again: a repeat
    with pytest.raises(DataError, match="already recorded as ignored"):
        store.act(decision().id, "ignored", at + timedelta(minutes=1))
    store.act(decision().id, "executed", at + timedelta(minutes=2))  # done after all

    for other in ("declined", "ignored"):
        with pytest.raises(DataError, match=f"was executed at .*: {other} contradicts it"):
            store.act(decision().id, other, at + timedelta(minutes=3))
    assert [e.data["action"] for e in store.entries(decision().id)] == ["ignored", "executed"]


def test_an_entry_whose_data_is_not_of_its_kind_is_refused(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    store.write(decision())
    with pytest.raises(Exception, match="action"):
        store.append(decision().id, "action", {"action": "shrugged"}, HOUR + timedelta(hours=1))
    with pytest.raises(Exception, match="horizon"):
        store.append(decision().id, "evaluation", {"ok": True}, HOUR + timedelta(hours=1))


def test_an_action_before_the_decision_was_issued_is_refused(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    store.write(decision())
    with pytest.raises(DataError, match=r"before decision .* was issued"):
        store.act(decision().id, "executed", HOUR)


def test_appending_to_an_unknown_decision_is_refused(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    with pytest.raises(DataError, match="no decision"):
        store.append("dec-ETH-USDT-20230815-110000", "action", {}, HOUR)
    with pytest.raises(DataError, match="must look like dec-ETH-USDT"):
        store.find("eth-grid-1")


@pytest.fixture(scope="module")
def sample_metrics() -> list[MetricsFile]:
    """The regime analysis of a few real hours of the sample, as the live path writes it."""
    minutes = load_recorded_minutes(SAMPLE_FILE)
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MARKET_MAKER_"):
                mp.delenv(name)
        cfg = load_settings().regime
    batch = analyze_series("ETH-USDT", minutes, HOUR, HOUR + timedelta(hours=3), cfg)
    return [
        batch.record(i, snapshot_path="s", collected_at=None, config_version="c", code_version="v")
        for i in range(len(batch.hours))
    ]


@pytest.fixture
def evaluator(tmp_path: Path) -> tuple[HourServices, GridBook, Settings]:
    settings = load_settings()
    grid = grid_data()
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids/eth-grid-1.yaml").write_text(yaml.safe_dump(grid))
    book = GridBook.load(tmp_path, fee_rate=settings.grids.fee_rate)
    return exit_services(tmp_path, settings, book), book, settings


@pytest.mark.parametrize(
    ("verdict", "minutes"),
    [
        (Verdict.TREND, 15),
        (Verdict.TRANSITION, 30),
        (Verdict.RANGE_WEAK, None),
        (Verdict.RANGE_OK, None),
    ],
)
def test_a_decision_expires_sooner_the_more_the_market_moves(
    sample_metrics: list[MetricsFile],
    evaluator: tuple[HourServices, GridBook, Settings],
    verdict: Verdict,
    minutes: int | None,
) -> None:
    ev, _book, _ = evaluator
    metrics = sample_metrics[0].model_copy(update={"verdict": verdict})

    outcome = evaluate_exit(ev, metrics)

    d = outcome.decision
    assert d is not None and d.verdict == verdict
    assert d.issued_at == metrics.hour + timedelta(hours=1)
    if minutes is None:  # a range leaves time: no deadline
        assert d.expires_at is None
    else:
        assert d.expires_at is not None and d.expires_at - d.issued_at == timedelta(minutes=minutes)
    # Every decision carries the grid's position at the hour.
    assert d.schema_version == "1.1" and d.position is not None
    assert d.position.price == metrics.price and d.position.stop_price == 1780.0
    stored = DecisionStore(ev.root).read(ev.root / decision_relpath("ETH-USDT", d.issued_at))
    assert stored == d


def test_every_evaluated_hour_leaves_one_decision_naming_its_metrics_and_grid(
    sample_metrics: list[MetricsFile], evaluator: tuple[HourServices, GridBook, Settings]
) -> None:
    ev, book, _ = evaluator
    for metrics in sample_metrics:
        evaluate_exit(ev, metrics)
    files = sorted((ev.root / "decisions/2023-08-15").glob("*.yaml"))
    assert [f.name for f in files] == [f"dec-ETH-USDT-{h}0000.yaml" for h in (11, 12, 13, 14)]
    first = DecisionStore(ev.root).read(files[0])
    assert first.metrics_file == "metrics/ETH-USDT/2023-08-15-10.yaml"
    assert first.grid.grid_id == "eth-grid-1"
    assert first.grid.grid_version == book.versions["eth-grid-1"]
    assert first.reasons


def test_a_rerun_under_another_configuration_keeps_the_first_decision(
    sample_metrics: list[MetricsFile], evaluator: tuple[HourServices, GridBook, Settings]
) -> None:
    ev, book, settings = evaluator
    first = evaluate_exit(ev, sample_metrics[0]).decision
    changed = sample_metrics[0].model_copy(update={"config_version": "another"})
    again = exit_services(ev.root, settings, book)

    outcome = evaluate_exit(again, changed)

    assert first is not None and outcome.decision == first
    assert outcome.decision.config_version == "c"
    assert outcome.notification is None


def test_a_refused_analysis_is_alerted_once_within_the_rate_limit(
    sample_metrics: list[MetricsFile], evaluator: tuple[HourServices, GridBook, Settings]
) -> None:
    ev, _book, _ = evaluator
    refused = [
        m.model_copy(
            update={
                "status": "INSUFFICIENT_METRICS",
                "verdict": None,
                "verdict_1h": None,
                "confidence": None,
                "metrics_computable": 3,
            }
        )
        for m in sample_metrics
    ]
    outcomes = [evaluate_exit(ev, m) for m in refused]

    kinds = [o.notification.kind if o.notification else None for o in outcomes]
    assert kinds == ["analysis_refused", None, None, None]  # WARNING's 4 h limit
    assert "3 of 6 metrics" in outcomes[0].notification.message  # type: ignore[union-attr]
    assert outcomes[0].decision is not None
    assert any("refused" in reason for reason in outcomes[0].decision.reasons)
