"""The ``market-maker`` command line: each command runs its flow in-process.

Flows run against the Prefect server in ``PREFECT_API_URL`` when it is set, else against
the local server on 127.0.0.1:4200, started in the background by the first command that
needs it and reused (``MARKET_MAKER_PREFECT_SERVER=ephemeral``: Prefect's temporary server
per command). See local_prefect/server.py.

``main.py`` is the entry point, ``parser.py`` the arguments; each group of commands has its
module (``data``, ``regime``, ``pipeline``, ``operator``, ``kpi``, ``backtest``, ``server``,
``config``, ``demo``).
"""
