"""Built-in synthetic sample sources and the format writers they (and the tests) use."""
