"""Releases: a versioned build of every recipe, its verification, provenance queries and exports."""
