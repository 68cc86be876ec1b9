"""``millstream``: the command line. Each group lives in its own module and is registered here."""

from __future__ import annotations

import typer

from cli import api as api_cli
from cli import apikey as apikey_cli
from cli import bridge as bridge_cli
from cli import db, kafka, masterdata, simulate
from cli import device as device_cli
from cli import dispatch as dispatch_cli
from cli import epc as epc_cli
from cli import ingest as ingest_cli
from cli import inventory as inventory_cli
from cli import logistics as logistics_cli
from cli import maintenance as maintenance_cli
from cli import models as models_cli
from cli import opcua as opcua_cli
from cli import replay as replay_cli
from cli import scorecard as scorecard_cli
from cli import webhooks as webhooks_cli
from cli.common import configure_logging, settings
from cli.up import up_command
from millstream import __version__

app = typer.Typer(
    name="millstream",
    help="Millstream: real-time OPC-UA, GPS and RFID stream processing into alerts and ERP records.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(kafka.app, name="kafka")
app.add_typer(masterdata.app, name="masterdata")
app.add_typer(epc_cli.app, name="epc")
app.add_typer(simulate.app, name="simulate")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(bridge_cli.app, name="bridge")
app.add_typer(opcua_cli.app, name="opcua")
app.add_typer(apikey_cli.app, name="apikey")
app.add_typer(api_cli.app, name="api")
app.add_typer(replay_cli.app, name="replay")
app.add_typer(device_cli.app, name="device")
app.command("dispatch")(dispatch_cli.dispatch_command)
app.command("ingest")(ingest_cli.ingest)
app.command("inventory")(inventory_cli.inventory)
app.command("up")(up_command)
app.add_typer(models_cli.app, name="models")
app.command("train")(models_cli.train_command)
app.command("evaluate")(models_cli.evaluate_command)
app.command("maintenance")(maintenance_cli.maintenance)
app.command("logistics")(logistics_cli.logistics)
app.command("scorecard")(scorecard_cli.scorecard_command)


@app.callback()
def main(
    log_level: str = typer.Option(None, "--log-level", help="DEBUG, INFO, WARNING or ERROR (default from settings)."),
) -> None:
    """Configure logging once for every command."""
    configure_logging((log_level or settings().log_level).upper())


@app.command()
def version() -> None:
    """Print Millstream's version."""
    typer.echo(f"millstream {__version__}")


def run() -> None:
    """Console-script entry point."""
    app()
