"""Operator commands: add, enable, disable and list grids, act on decisions, query regimes.

Plain functions the command line calls; the top layer of the library (any other package may
be imported here, none imports this one).
"""
