"""medblink-build: regenerate and extend the MedBLINK medical perception benchmark from raw sources."""

__version__ = "0.2.0"
