"""The configuration in force and its config_version."""

from __future__ import annotations

import argparse
import sys

from market_maker.config import load_settings


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from market_maker.config.settings import canonical_text

    settings = load_settings()
    if args.canonical:
        sys.stdout.write(canonical_text(settings))
        return 0
    print(yaml.safe_dump(settings.public_dict(), sort_keys=False), end="")
    print(f"# config_version: {settings.config_version}")
    return 0
