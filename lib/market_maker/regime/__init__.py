"""Regime analysis: six metrics, four verdicts, confidence, range discovery."""
