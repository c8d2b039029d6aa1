"""Create the Pushover notification blocks and apply the automations with the Prefect CLI.

    PREFECT_API_URL=... MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN=... \\
    MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY=... \\
        python deployments/automations/apply.py

Prefect ships no Pushover block, so two ``CustomWebhookNotificationBlock``s post
Pushover's form: ``market-maker-pushover`` (priority 1) and
``market-maker-pushover-emergency`` (priority 2, retried every 60 s for an hour). The
token and user key are kept in the blocks' secrets, never in these files. Each
automation file is rendered with the blocks' ids and created with
``prefect automation create --from-file``; an existing automation of the same name is
deleted first, so applying again replaces rather than duplicates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PUSHOVER_URL = "https://api.pushover.net/1/messages.json"
BLOCKS = {
    "__PUSHOVER_BLOCK_ID__": ("market-maker-pushover", {"priority": "1"}),
    "__PUSHOVER_EMERGENCY_BLOCK_ID__": (
        "market-maker-pushover-emergency",
        {"priority": "2", "retry": "60", "expire": "3600"},
    ),
}


def save_blocks(token: str, user: str, url: str) -> dict[str, str]:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    ids = {}
    for placeholder, (name, extra) in BLOCKS.items():
        block = CustomWebhookNotificationBlock(
            name=name,
            url=url,
            method="POST",
            form_data={
                "token": "{{token}}",
                "user": "{{user}}",
                "title": "{{subject}}",
                "message": "{{body}}",
                **extra,
            },
            secrets={"token": token, "user": user},
        )
        ids[placeholder] = str(block.save(name, overwrite=True))
    return ids


def render(path: Path, ids: dict[str, str]) -> str:
    text = path.read_text()
    for placeholder, block_id in ids.items():
        text = text.replace(placeholder, block_id)
    return text


def apply(ids: dict[str, str], prefect: str = "prefect") -> list[str]:
    names = []
    for path in sorted(HERE.glob("*.yaml")):
        rendered = render(path, ids)
        name = yaml.safe_load(rendered)["name"]
        subprocess.run(
            [prefect, "--no-prompt", "automation", "delete", name],
            capture_output=True,
            check=False,
        )
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            handle.write(rendered)
        try:
            subprocess.run(
                [prefect, "--no-prompt", "automation", "create", "--from-file", handle.name],
                check=True,
            )
        finally:
            os.unlink(handle.name)
        names.append(name)
    return names


def main() -> int:
    token = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN")
    user = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY")
    if not token or not user:
        print("set MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN and __USER_KEY", file=sys.stderr)
        return 2
    url = os.environ.get("MARKET_MAKER_NOTIFICATIONS__PUSHOVER__API_URL", PUSHOVER_URL)
    prefect = str(Path(sys.executable).with_name("prefect"))
    for name in apply(save_blocks(token, user, url), prefect):
        print(f"applied automation: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
