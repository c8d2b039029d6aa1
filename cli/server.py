"""The local Prefect server the commands share: start, stop, status."""

from __future__ import annotations

import argparse


def cmd_server(args: argparse.Namespace) -> int:
    from local_prefect import server as local_server

    if args.action == "start":
        url, started = local_server.ensure()
        what = "started" if started else "already running:"
        print(f"{what} Prefect server, UI at {local_server.ui_url(url)}")
    elif args.action == "stop":
        print(local_server.stop())
    else:
        print(local_server.status())
    return 0
