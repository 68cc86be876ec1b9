"""Benchmarks: ``python -m bench [name ...]`` runs ``bench/bench_<name>.py`` modules (all by default).

Each module has ``main() -> dict`` that prints its figures and returns them; figures are measured against a
baseline in the same process (ratios), never asserted in tests.
"""
