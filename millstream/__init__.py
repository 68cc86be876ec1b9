"""Millstream's domain core: typed events, settings, serde, clock, watermark, master data, GS1/EPC, metrics
names, the shared alert lifecycle, and one subpackage per pipeline with its domain logic and alert rules
(:mod:`.maintenance`, :mod:`.inventory`, :mod:`.logistics`).

It does no I/O and runs no engine: it imports no other package of the project, nor Bytewax, confluent-kafka,
psycopg, FastAPI or asyncua (the import contracts in ``pyproject.toml`` check this).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
