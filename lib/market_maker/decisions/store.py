"""The decision store: write once, never overwrite; later entries are new files."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from market_maker.base.atomic import write_atomic
from market_maker.base.errors import DataError
from market_maker.base.identifiers import inside
from market_maker.base.timeutil import format_utc
from market_maker.base.yaml_files import dump, load_model
from market_maker.decisions.model import (
    DECISIONS_DIR,
    ActionData,
    Decision,
    DecisionEntry,
    SetupDecision,
    decision_id_relpath,
    decision_relpath,
)
from market_maker.store.file_kinds import FileKind, under

# What the operator did about a decision that no later action can change; "ignored" can be
# followed by what was done after all.
FINAL_ACTIONS = ("executed", "declined")


class ImmutableRecordError(DataError):
    """A decision record exists with other content: records are never edited."""


def _dumps(model: Decision | SetupDecision | DecisionEntry) -> bytes:
    data = model.model_dump(mode="json")
    if isinstance(model, Decision):
        for key in ("position", "promotion"):  # a 1.0 record keeps exactly the 1.0 keys
            if data.get(key) is None:
                data.pop(key, None)
    return dump(data)


def _load_decision(data: bytes, source: str) -> Decision | SetupDecision:
    """A GRID_MANAGE or GRID_SETUP record, told apart by its ``type`` line (a file claiming
    the wrong one fails its model's validation)."""
    model = SetupDecision if b"\ntype: GRID_SETUP\n" in data else Decision
    return load_model(data, model, source)


class DecisionStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, decision: Decision | SetupDecision) -> Path:
        return inside(self.root, decision_relpath(decision.symbol, decision.issued_at))

    def write(self, decision: Decision | SetupDecision) -> tuple[Path, bool]:
        """Write a new record; (path, False) when an identical one is already there (a rerun).

        Raises ImmutableRecordError when a record with other content exists.
        """
        path = self.path(decision)
        data = _dumps(decision)
        if path.exists():
            if path.read_bytes() == data:
                return path, False
            raise ImmutableRecordError(
                f"decision {decision.id} already exists at {path} with other content; "
                "decision records are immutable: append an entry instead"
            )
        write_atomic(path, data, lambda tmp: self._check(tmp, decision))
        return path, True

    def recorded(self, decision: Decision | SetupDecision) -> Decision | SetupDecision | None:
        """The record already stored where ``decision`` belongs (an earlier run's), or None."""
        path = self.path(decision)
        return self.read(path) if path.exists() else None

    def read(self, path: Path) -> Decision | SetupDecision:
        """Parse a record and check it against its path (a record is where its id says)."""
        decision = _load_decision(path.read_bytes(), str(path))
        expected = decision_relpath(decision.symbol, decision.issued_at)
        if Path(*path.parts[-3:]) != expected:
            raise DataError(f"{path}: decision {decision.id} belongs at {expected.as_posix()}")
        return decision

    def find(self, decision_id: str) -> Path:
        """The file of a decision, from its id ``dec-{SYMBOL}-{YYYYMMDD}-{HHMMSS}``."""
        path = inside(self.root, decision_id_relpath(decision_id))
        if not path.exists():
            raise DataError(f"no decision {decision_id} ({path.relative_to(self.root)})")
        return path

    def append(
        self,
        decision_id: str,
        kind: Literal["action", "evaluation"],
        data: dict[str, Any],
        recorded_at: datetime,
    ) -> Path:
        """Record a later fact as ``{decision file stem}.{NN}-{kind}.yaml`` beside the decision."""
        base = self.find(decision_id)
        existing = sorted(base.parent.glob(f"{base.stem}.*-*.yaml"))
        entry = DecisionEntry(
            decision_id=decision_id,
            sequence=len(existing) + 1,
            kind=kind,
            recorded_at=recorded_at,
            data=data,
        )
        path = base.parent / f"{base.stem}.{entry.sequence:02d}-{kind}.yaml"
        if path.exists():
            raise ImmutableRecordError(f"{path} exists; entries are never rewritten")
        write_atomic(path, _dumps(entry))
        return path

    def act(
        self,
        decision_id: str,
        action: str,
        at: datetime,
        *,
        note: str | None = None,
        source: str = "decision act",
        grid_id: str | None = None,
        grace: timedelta = timedelta(0),
    ) -> tuple[Path, ActionData]:
        """Record what the operator did about a decision. An action before the decision was
        issued is refused; one after it expired is recorded, marked late."""
        decision = self.read(self.find(decision_id))
        if at < decision.issued_at:
            raise DataError(
                f"an action at {format_utc(at)} is before decision {decision_id} was issued "
                f"({format_utc(decision.issued_at)})"
            )
        if same := self.check_action(decision_id, action):
            raise DataError(
                f"decision {decision_id} is already recorded as {action} at "
                f"{format_utc(same.at)}; an action is recorded once"
            )
        data = ActionData(
            action=action,
            at=at,
            late=decision.expires_at is not None and at > decision.expires_at + grace,
            note=note,
            source=source,
            grid_id=grid_id,
        )
        path = self.append(decision_id, "action", data.model_dump(mode="json"), recorded_at=at)
        return path, data

    def check_action(self, decision_id: str, action: str) -> ActionData | None:
        """The recorded action ``action`` repeats (the same as the last one), or None when it
        is new; a DataError when it contradicts a final one (executed, declined)."""
        recorded = self.entries(decision_id, "action")
        if not recorded:
            return None
        last = ActionData.model_validate(recorded[-1].data)
        if last.action == action:
            return last
        if last.action in FINAL_ACTIONS:
            raise DataError(
                f"decision {decision_id} was {last.action} at {format_utc(last.at)}: "
                f"{action} contradicts it and is refused (an executed or declined decision "
                "stays so)"
            )
        return None

    def entries(self, decision_id: str, kind: str = "*") -> list[DecisionEntry]:
        """The later facts about a decision, in order (only those of ``kind`` if given)."""
        base = self.find(decision_id)
        out = []
        for path in sorted(base.parent.glob(f"{base.stem}.*-{kind}.yaml")):
            entry = load_model(path.read_bytes(), DecisionEntry, str(path))
            expected = f"{base.stem}.{entry.sequence:02d}-{entry.kind}.yaml"
            if entry.decision_id != decision_id or path.name != expected:
                raise DataError(f"{path}: entry of {entry.decision_id} belongs at {expected}")
            out.append(entry)
        return out

    @staticmethod
    def _check(tmp: Path, decision: Decision | SetupDecision) -> None:
        if _load_decision(tmp.read_bytes(), str(tmp)) != decision:
            raise DataError(f"{tmp}: decision record does not read back equal")


ENTRY_SUFFIXES = ("-action.yaml", "-evaluation.yaml")


def _entry(root: Path, relative: Path) -> None:
    entry = load_model((root / relative).read_bytes(), DecisionEntry, str(root / relative))
    DecisionStore(root).find(entry.decision_id)


def _unknown(root: Path, relative: Path) -> None:
    raise DataError(f"{relative}: not a file market-maker writes")


# Decisions and their later entries never change once committed; anything else under
# decisions/ is refused (and, once committed, restored).
DECISION_FILES = (
    FileKind(
        "decision entry",
        lambda rel: rel.parts[0] == DECISIONS_DIR and rel.name.endswith(ENTRY_SUFFIXES),
        _entry,
        immutable=True,
    ),
    FileKind(
        "decision",
        under(DECISIONS_DIR, ".yaml"),
        lambda root, rel: DecisionStore(root).read(root / rel),
        immutable=True,
    ),
    FileKind("decisions folder", under(DECISIONS_DIR, ""), _unknown, immutable=True),
)
