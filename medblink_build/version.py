"""The tool's version: in every manifest and provenance record, so any change to output bytes bumps it."""

__version__ = "0.2.0"
