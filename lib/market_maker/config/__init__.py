"""Configuration: YAML defaults in ``config/``, an overlay file, ``MARKET_MAKER_*`` overrides."""

from market_maker.config.loader import config_dir, load_settings, project_root
from market_maker.config.settings import Settings, secret_value

__all__ = ["Settings", "config_dir", "load_settings", "project_root", "secret_value"]
