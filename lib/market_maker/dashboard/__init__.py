"""The dashboard: one self-contained HTML page (Chart.js inlined, data embedded)."""
