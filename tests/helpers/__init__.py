"""Helpers the tests share (test modules import these, never each other; fixtures live in conftest.py)."""
