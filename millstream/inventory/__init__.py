"""Inventory domain logic (pure Python, no Bytewax): stock movements, production counters -> backflush, RFID
gate passes -> movements, stock tracking and reorder levels, the alert rules (:mod:`.rules`), ERP records and
EPCIS events.

The dataflow that wires these together is :mod:`streams.inventory`; the ledger that applies movements is
:mod:`connectors.postgres.ledger`.
"""
