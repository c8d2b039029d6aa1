"""Everything an hour may send, for one run: the exit alerts and the setup side's messages."""

from __future__ import annotations

from pathlib import Path

from market_maker.alerts.exit_alerts import ExitAlerts, MetricsAt
from market_maker.alerts.notifier import Notifier
from market_maker.alerts.setup_alerts import SetupAlerts
from market_maker.config import Settings


class HourAlerts:
    def __init__(self, root: Path, settings: Settings, notifier: Notifier, metrics_at: MetricsAt):
        self.notifier = notifier
        self.exit = ExitAlerts(root, settings, notifier, metrics_at)
        self.setup = SetupAlerts(root, settings, notifier)
