"""The bottom layer: time, types, identifiers, errors, secrets' redaction, atomic files, YAML
models and candle series. Imports nothing else of the project."""
