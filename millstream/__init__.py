"""Millstream's leaf package: typed events, settings, serde and metrics names.

Every other package of the project imports this one; it imports none of them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
