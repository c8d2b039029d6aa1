"""The demo: the whole system on the recorded sample, told as a story (``market-maker demo``).

Its flow, the replay with an operator who follows every recommendation, is
flows/demo_replay.py.
"""
