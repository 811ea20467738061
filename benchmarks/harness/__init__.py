"""The benchmark harness behind `benchmarks/run.py`, one module per job (see benchmarks/README.md).

Modules import only the standard library at module level: they are also imported by the measured
child processes and their workers, which must not pay for imports the run itself does not make.
"""
