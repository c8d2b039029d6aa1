"""market-maker: decision support for spot grid trading.

The domain library: snapshots, exchanges, the Git data store, configuration.
It knows nothing of Prefect; the flows and tasks that orchestrate it live
beside it in the project's ``flows/`` and ``tasks/`` packages.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("market-maker")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
