"""The GS1 EPC codec against the Tag Data Standard's worked examples, and encode/decode round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from millstream.epc import EpcError, Sgtin96, Sscc96, decode_epc, encode_sgtin96, encode_sscc96
from millstream.gs1 import check_digit, is_valid_gtin, is_valid_sscc
from tests.helpers.paths import DATA

VECTORS = json.loads((DATA / "gs1" / "epc_vectors.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["hex"] for v in VECTORS])
def test_decodes_every_published_vector(vector: dict[str, object]) -> None:
    expected = {k: v for k, v in vector.items() if k != "hex"}
    assert decode_epc(str(vector["hex"])).as_dict() == expected


@pytest.mark.parametrize("vector", VECTORS, ids=[v["hex"] for v in VECTORS])
def test_encodes_every_published_vector(vector: dict[str, str]) -> None:
    prefix_length = len(vector["company_prefix"])
    if vector["scheme"] == "sgtin-96":
        hex_ = encode_sgtin96(vector["gtin"], int(vector["serial"]), prefix_length, int(vector["filter"]))
    else:
        hex_ = encode_sscc96(vector["sscc"], prefix_length, int(vector["filter"]))
    assert hex_ == vector["hex"]


def _with_check(body: str) -> str:
    return body + str(check_digit(body))


gtins = st.text("0123456789", min_size=13, max_size=13).map(_with_check)
ssccs = st.text("0123456789", min_size=17, max_size=17).map(_with_check)


@given(gtin=gtins, serial=st.integers(0, 2**38 - 1), prefix_length=st.integers(6, 12), filter_=st.integers(0, 7))
def test_sgtin96_round_trips_over_all_partitions(gtin: str, serial: int, prefix_length: int, filter_: int) -> None:
    hex_ = encode_sgtin96(gtin, serial, prefix_length, filter_)
    decoded = decode_epc(hex_)
    assert isinstance(decoded, Sgtin96)
    assert (decoded.gtin, decoded.serial, decoded.filter) == (gtin, str(serial), filter_)
    assert decoded.company_prefix == gtin[1:1 + prefix_length]
    assert len(decoded.company_prefix) + len(decoded.item_reference) == 13
    assert decoded.epc_uri.startswith(f"urn:epc:id:sgtin:{decoded.company_prefix}.")
    assert encode_sgtin96(decoded.gtin, int(decoded.serial), len(decoded.company_prefix), decoded.filter) == hex_


@given(sscc=ssccs, prefix_length=st.integers(6, 12), filter_=st.integers(0, 7))
def test_sscc96_round_trips_over_all_partitions(sscc: str, prefix_length: int, filter_: int) -> None:
    hex_ = encode_sscc96(sscc, prefix_length, filter_)
    decoded = decode_epc(hex_)
    assert isinstance(decoded, Sscc96)
    assert (decoded.sscc, decoded.filter) == (sscc, filter_)
    assert is_valid_sscc(decoded.sscc)
    assert len(decoded.company_prefix) + len(decoded.serial_reference) == 17
    assert decoded.tag_uri == f"urn:epc:tag:sscc-96:{filter_}.{decoded.company_prefix}.{decoded.serial_reference}"
    assert encode_sscc96(decoded.sscc, len(decoded.company_prefix), decoded.filter) == hex_


@given(st.integers(0, 2**96 - 1))
def test_any_96_bits_decode_or_fail_with_epc_error(value: int) -> None:
    try:
        decoded = decode_epc(f"{value:024X}")
    except EpcError as exc:
        assert "EPC" in str(exc)
    else:
        assert is_valid_gtin(decoded.gtin) if isinstance(decoded, Sgtin96) else is_valid_sscc(decoded.sscc)


@pytest.mark.parametrize(("epc", "reason"), [
    ("3074257BF7194E4000001A8", "24 hex digits"),
    ("3074257BF7194E4000001AZZ", "not hexadecimal"),
    ("E2801160600002084A3B4C5D", "header 0xE2 is not supported"),
    ("307C257BF7194E4000001A85", "partition value 7"),
    ("3174257BF4499602D2000001", "reserved bits"),
    # partition 6 (6-digit prefix, 20 bits) with prefix value 0xFFFFF = 1048575 > 999999
    ("301BFFFFC000000000000000", "company prefix 1048575 exceeds 6 digits"),
])
def test_invalid_epcs_are_refused_with_the_reason(epc: str, reason: str) -> None:
    with pytest.raises(EpcError, match=reason):
        decode_epc(epc)


def test_encoder_refuses_bad_input() -> None:
    with pytest.raises(EpcError, match="check digit"):
        encode_sgtin96("80614141123457", 1, 7)
    with pytest.raises(EpcError, match="serial must be"):
        encode_sgtin96("80614141123458", 2**38, 7)
    with pytest.raises(EpcError, match="company_prefix_length"):
        encode_sscc96("106141412345678908", 5)


def test_cli_decode_json_prints_the_gtin() -> None:
    result = CliRunner().invoke(app, ["epc", "decode", "3074257BF7194E4000001A85", "--json"])
    assert result.exit_code == 0, result.output
    fields = json.loads(result.stdout)
    assert fields["gtin"] == "80614141123458"
    assert set(fields) == {"scheme", "filter", "company_prefix", "item_reference", "serial", "gtin", "epc_uri",
                           "tag_uri"}


def test_cli_decode_sscc_table() -> None:
    result = CliRunner().invoke(app, ["epc", "decode", "3174257BF4499602D2000000"])
    assert result.exit_code == 0, result.output
    assert "106141412345678908" in result.stdout and "serial_reference" in result.stdout


def test_cli_decode_refuses_an_invalid_epc() -> None:
    result = CliRunner().invoke(app, ["epc", "decode", "E2801160600002084A3B4C5D", "--json"])
    assert result.exit_code != 0
    assert "not supported" in result.output
