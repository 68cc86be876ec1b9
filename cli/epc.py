"""``millstream epc``: decode GS1 EPCs (SGTIN-96, SSCC-96) as RFID readers report them."""

from __future__ import annotations

import orjson
import typer

from cli.common import console, fail
from millstream.epc import EpcError, decode_epc

__all__ = ["app"]

app = typer.Typer(help="GS1 EPC tags (SGTIN-96, SSCC-96).", no_args_is_help=True)


@app.command("decode")
def decode_command(
    epc: str = typer.Argument(..., help="The EPC as 24 hex digits, e.g. 3074257BF7194E4000001A85."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Decode an EPC into its GS1 fields, GTIN-14 / SSCC-18 and URIs."""
    try:
        fields = decode_epc(epc).as_dict()
    except EpcError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(orjson.dumps(fields).decode())
        return
    width = max(len(k) for k in fields)
    for key, value in fields.items():
        console.print(f"{key:<{width}}  {value}", highlight=False)
