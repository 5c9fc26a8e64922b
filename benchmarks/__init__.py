"""mock-wiro's benchmarks: figures measured side by side in one run, never asserted.

``python -m benchmarks [--quick] [--only NAME ...] [--json FILE]`` runs every
``benchmarks/bench_*.py`` module that defines ``run(quick: bool) -> list[Row]`` and
prints one table. Each figure is a ratio against a baseline measured in the same
run, with medians and p99 where they mean something.
"""
