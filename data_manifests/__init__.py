"""Source manifests shipped with medblink-build (TOML data, read with importlib.resources)."""
