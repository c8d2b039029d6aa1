"""KPIs: the system scoring its own recommendations after the fact (docs/kpis.md)."""
