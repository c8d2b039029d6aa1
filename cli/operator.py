"""The operator's commands: grid add|enable|disable|list, decision act."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def cmd_grid(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market_maker.operator import grids

    if args.grid_action == "add":
        print(grids.grid_add(Path(args.file)))
    elif args.grid_action == "list":
        print(grids.grid_list(args.at or datetime.now(UTC)))
    else:
        print(
            grids.grid_set(
                args.id,
                enabled=args.grid_action == "enable",
                at=args.at or datetime.now(UTC).replace(microsecond=0),
                reason=args.reason,
                decision=args.decision,
            )
        )
    return 0


def check_decision(args: argparse.Namespace) -> None:
    from cli.checks import check_data_repository
    from market_maker.operator.decisions import check_not_future

    if args.at is not None:
        check_not_future(args.at)
    check_data_repository(args)


def cmd_decision(args: argparse.Namespace) -> int:
    from market_maker.operator.decisions import decision_act

    at = args.at or datetime.now(UTC).replace(microsecond=0)
    print(decision_act(args.id, args.action, at, args.note))
    return 0
