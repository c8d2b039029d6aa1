"""The demo command: its help, which says what it does, and its run (the story is demo/)."""

from __future__ import annotations

import argparse

from market_maker.config import load_settings

DEMO_HELP = """\
The whole system on the embedded default, offline, in a few minutes: the recorded
ETH-USDT sample (data/sample/), a local Git data repository (var/data-repo) pushing to a
local bare remote (var/data-remote.git), and the local Prefect server (started once,
UI at http://127.0.0.1:4200).

It tells the story as it goes, a screen or so in all; the full logs go to var/demo.log.

  1. collects: backfills the hourly snapshots of July and August 2023 from the recording,
     collects the latest hour as the schedule would, validates every file, pushes;
  2. analyses: classifies every hour (RANGE_OK, RANGE_WEAK, TRANSITION, TREND) and
     prints the shares;
  3. replays the hourly pipeline from 25 July hour by hour, with an operator who follows
     it ten minutes after each recommendation: a setup recommendation (CREATE_GRID) is
     approved (`decision act --action executed` writes the grid file), the grid lives
     through its exit states, it is stopped at MANDATORY_EXIT, the restart gates pass
     one by one, and the next setup comes; it prints each grid's life;
  4. prints the exit-state hours and the last escalations with their reasons;
  5. prints the alerts the operator's phone would have received, grouped by kind, with
     their priority (no Pushover keys here: each is logged instead of sent);
  6. scores the replay as the nightly KPI batch does and writes the dashboard;
  7. says where to look next.

Running it again is safe: nothing is written or sent twice."""


def cmd_demo(args: argparse.Namespace) -> int:
    from demo.story import run_demo

    return run_demo(load_settings())
