"""The local Prefect server the commands share, and ``make serve`` (the deployments of
prefect.yaml served in-process against it)."""
