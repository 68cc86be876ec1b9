"""GS1 identifier arithmetic shared by master data, the RFID simulator and the inventory pipeline."""

from __future__ import annotations

__all__ = ["check_digit", "is_valid_gtin", "is_valid_sscc"]


def check_digit(digits: str) -> int:
    """GS1 mod-10 check digit for ``digits`` (the number without its check digit)."""
    if not digits.isdigit():
        msg = f"GS1 number must be digits only, got {digits!r}"
        raise ValueError(msg)
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _valid(code: str, length: int) -> bool:
    return len(code) == length and code.isdigit() and check_digit(code[:-1]) == int(code[-1])


def is_valid_gtin(code: str) -> bool:
    """True for a GTIN-14 whose check digit is right."""
    return _valid(code, 14)


def is_valid_sscc(code: str) -> bool:
    """True for an SSCC-18 whose check digit is right."""
    return _valid(code, 18)
