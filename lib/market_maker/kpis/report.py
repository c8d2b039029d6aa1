"""The KPI tables' old module name, kept while the backtest's report imports ``cell`` from it
(backtest/report.py): the tables are :mod:`market_maker.kpis.tables`."""

from market_maker.kpis.tables import cell

__all__ = ["cell"]
