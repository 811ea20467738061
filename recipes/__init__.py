"""The recipes shipped with medblink-build: one module per recipe (installed as medblink_build.recipes)."""
