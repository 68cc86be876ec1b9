"""GS1 EPC Tag Data Standard codec for the two 96-bit schemes Millstream's RFID gates read.

* **SGTIN-96** (header ``0x30``): a serialised trade item — a case. Fields: filter (3 bits), partition
  (3 bits), company prefix + item reference (44 bits split by the partition table), serial (38 bits).
* **SSCC-96** (header ``0x31``): a logistic unit — a pallet. Fields: filter, partition, company prefix +
  serial reference (58 bits split by the partition table), 24 reserved bits (zero).

The partition value says how many decimal digits of the GS1 key belong to the company prefix; the GTIN-14
and SSCC-18 are rebuilt from the fields with their GS1 check digit (:func:`millstream.gs1.check_digit`).
Shared by the RFID simulator (encoding) and the inventory pipeline (decoding); decoding errors raise
:class:`EpcError` with the reason, so a bad tag read can become a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from millstream.errors import MillstreamError
from millstream.gs1 import check_digit, is_valid_gtin, is_valid_sscc

__all__ = [
    "SGTIN96_HEADER",
    "SSCC96_HEADER",
    "EpcError",
    "Sgtin96",
    "Sscc96",
    "decode_epc",
    "encode_sgtin96",
    "encode_sscc96",
]

SGTIN96_HEADER = 0x30
SSCC96_HEADER = 0x31
SERIAL_BITS_SGTIN96 = 38
MAX_SGTIN96_SERIAL = (1 << SERIAL_BITS_SGTIN96) - 1

# partition -> (company prefix bits, company prefix digits, other field bits, other field digits)
_SGTIN_PARTITIONS: dict[int, tuple[int, int, int, int]] = {
    0: (40, 12, 4, 1), 1: (37, 11, 7, 2), 2: (34, 10, 10, 3), 3: (30, 9, 14, 4),
    4: (27, 8, 17, 5), 5: (24, 7, 20, 6), 6: (20, 6, 24, 7),
}
_SSCC_PARTITIONS: dict[int, tuple[int, int, int, int]] = {
    0: (40, 12, 18, 5), 1: (37, 11, 21, 6), 2: (34, 10, 24, 7), 3: (30, 9, 28, 8),
    4: (27, 8, 31, 9), 5: (24, 7, 34, 10), 6: (20, 6, 38, 11),
}


class EpcError(MillstreamError, ValueError):
    """An EPC that cannot be decoded or encoded; the message says which field is wrong and why."""


@dataclass(frozen=True)
class Sgtin96:
    """A decoded SGTIN-96: a GTIN-14 plus a numeric serial."""

    filter: int
    company_prefix: str
    item_reference: str
    serial: str
    gtin: str
    hex: str

    scheme: Literal["sgtin-96"] = "sgtin-96"

    @property
    def epc_uri(self) -> str:
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.item_reference}.{self.serial}"

    @property
    def tag_uri(self) -> str:
        return f"urn:epc:tag:sgtin-96:{self.filter}.{self.company_prefix}.{self.item_reference}.{self.serial}"

    def as_dict(self) -> dict[str, Any]:
        """The fields under the keys ``millstream epc decode --json`` prints."""
        return {"scheme": self.scheme, "filter": self.filter, "company_prefix": self.company_prefix,
                "item_reference": self.item_reference, "serial": self.serial, "gtin": self.gtin,
                "epc_uri": self.epc_uri, "tag_uri": self.tag_uri}


@dataclass(frozen=True)
class Sscc96:
    """A decoded SSCC-96: an SSCC-18 identifying one logistic unit."""

    filter: int
    company_prefix: str
    serial_reference: str
    sscc: str
    hex: str

    scheme: Literal["sscc-96"] = "sscc-96"

    @property
    def epc_uri(self) -> str:
        return f"urn:epc:id:sscc:{self.company_prefix}.{self.serial_reference}"

    @property
    def tag_uri(self) -> str:
        return f"urn:epc:tag:sscc-96:{self.filter}.{self.company_prefix}.{self.serial_reference}"

    def as_dict(self) -> dict[str, Any]:
        """The fields under the keys ``millstream epc decode --json`` prints."""
        return {"scheme": self.scheme, "filter": self.filter, "company_prefix": self.company_prefix,
                "serial_reference": self.serial_reference, "sscc": self.sscc,
                "epc_uri": self.epc_uri, "tag_uri": self.tag_uri}


def _parse_hex(epc_hex: str) -> int:
    text = epc_hex.strip().upper().removeprefix("0X")
    if len(text) != 24:
        msg = f"EPC {epc_hex!r}: expected 24 hex digits (96 bits), got {len(text)}"
        raise EpcError(msg)
    try:
        return int(text, 16)
    except ValueError:
        msg = f"EPC {epc_hex!r}: not hexadecimal"
        raise EpcError(msg) from None


def _split(value: int, partitions: dict[int, tuple[int, int, int, int]], epc_hex: str,
           other: str) -> tuple[int, str, str]:
    """Partition, company prefix digits and the other field's digits of a 3+3+N-bit block."""
    total_bits = partitions[0][0] + partitions[0][2]
    partition = (value >> total_bits) & 0b111
    if partition not in partitions:
        msg = f"EPC {epc_hex!r}: partition value {partition} is not defined (0..6)"
        raise EpcError(msg)
    cp_bits, cp_digits, other_bits, other_digits = partitions[partition]
    company_prefix = (value >> other_bits) & ((1 << cp_bits) - 1)
    other_value = value & ((1 << other_bits) - 1)
    if company_prefix >= 10**cp_digits:
        msg = f"EPC {epc_hex!r}: company prefix {company_prefix} exceeds {cp_digits} digits for partition {partition}"
        raise EpcError(msg)
    if other_value >= 10**other_digits:
        msg = (f"EPC {epc_hex!r}: {other} {other_value} exceeds {other_digits} digits "
               f"for partition {partition}")
        raise EpcError(msg)
    return partition, str(company_prefix).zfill(cp_digits), str(other_value).zfill(other_digits)


def decode_epc(epc_hex: str) -> Sgtin96 | Sscc96:
    """Decode a 96-bit EPC given as 24 hex digits; :class:`EpcError` says why when it is not SGTIN-96/SSCC-96."""
    value = _parse_hex(epc_hex)
    header = value >> 88
    filter_value = (value >> 85) & 0b111
    text = f"{value:024X}"
    if header == SGTIN96_HEADER:
        _, prefix, item_ref = _split((value >> SERIAL_BITS_SGTIN96) & ((1 << 47) - 1), _SGTIN_PARTITIONS,
                                     epc_hex, "item reference")
        serial = value & MAX_SGTIN96_SERIAL
        body = item_ref[0] + prefix + item_ref[1:]
        return Sgtin96(filter=filter_value, company_prefix=prefix, item_reference=item_ref, serial=str(serial),
                       gtin=body + str(check_digit(body)), hex=text)
    if header == SSCC96_HEADER:
        if value & 0xFFFFFF:
            msg = f"EPC {epc_hex!r}: SSCC-96 reserved bits (last 24) must be zero"
            raise EpcError(msg)
        _, prefix, serial_ref = _split((value >> 24) & ((1 << 61) - 1), _SSCC_PARTITIONS, epc_hex,
                                       "serial reference")
        body = serial_ref[0] + prefix + serial_ref[1:]
        return Sscc96(filter=filter_value, company_prefix=prefix, serial_reference=serial_ref,
                      sscc=body + str(check_digit(body)), hex=text)
    msg = f"EPC {epc_hex!r}: header 0x{header:02X} is not supported (SGTIN-96 0x30, SSCC-96 0x31)"
    raise EpcError(msg)


def _partition_for(partitions: dict[int, tuple[int, int, int, int]], prefix_length: int) -> int:
    for partition, (_, cp_digits, _, _) in partitions.items():
        if cp_digits == prefix_length:
            return partition
    msg = f"company_prefix_length must be 6..12 digits, got {prefix_length}"
    raise EpcError(msg)


def _check_filter(filter_value: int) -> None:
    if not 0 <= filter_value <= 7:
        msg = f"filter must be 0..7, got {filter_value}"
        raise EpcError(msg)


def encode_sgtin96(gtin: str, serial: int, company_prefix_length: int, filter_value: int = 2) -> str:
    """The SGTIN-96 EPC (24 upper-case hex digits) of one instance of ``gtin`` (GTIN-14).

    ``filter_value`` 2 is "full case for transport" (1 point-of-sale item, 6 unit load, 0 all others).
    """
    if not is_valid_gtin(gtin):
        msg = f"gtin {gtin!r} is not a GTIN-14 with a valid check digit"
        raise EpcError(msg)
    if not 0 <= serial <= MAX_SGTIN96_SERIAL:
        msg = f"serial must be 0..{MAX_SGTIN96_SERIAL} for SGTIN-96, got {serial}"
        raise EpcError(msg)
    _check_filter(filter_value)
    partition = _partition_for(_SGTIN_PARTITIONS, company_prefix_length)
    cp_bits, _, ir_bits, _ = _SGTIN_PARTITIONS[partition]
    prefix = int(gtin[1:1 + company_prefix_length])
    item_ref = int(gtin[0] + gtin[1 + company_prefix_length:13])
    value = SGTIN96_HEADER
    value = (value << 3) | filter_value
    value = (value << 3) | partition
    value = (value << cp_bits) | prefix
    value = (value << ir_bits) | item_ref
    value = (value << SERIAL_BITS_SGTIN96) | serial
    return f"{value:024X}"


def encode_sscc96(sscc: str, company_prefix_length: int, filter_value: int = 6) -> str:
    """The SSCC-96 EPC (24 upper-case hex digits) of ``sscc`` (SSCC-18); filter 6 is "unit load"."""
    if not is_valid_sscc(sscc):
        msg = f"sscc {sscc!r} is not an SSCC-18 with a valid check digit"
        raise EpcError(msg)
    _check_filter(filter_value)
    partition = _partition_for(_SSCC_PARTITIONS, company_prefix_length)
    cp_bits, _, sr_bits, _ = _SSCC_PARTITIONS[partition]
    prefix = int(sscc[1:1 + company_prefix_length])
    serial_ref = int(sscc[0] + sscc[1 + company_prefix_length:17])
    value = SSCC96_HEADER
    value = (value << 3) | filter_value
    value = (value << 3) | partition
    value = (value << cp_bits) | prefix
    value = (value << sr_bits) | serial_ref
    value <<= 24
    return f"{value:024X}"
