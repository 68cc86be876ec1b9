"""``millstream api``: serve the HTTP API with uvicorn, or print its OpenAPI document."""

from __future__ import annotations

import json

import typer

from cli.common import settings

app = typer.Typer(help="The HTTP API.", no_args_is_help=True)


@app.command("serve")
def serve_command(
    host: str = typer.Option(None, help="Interface to listen on (default: MILLSTREAM_API__HOST)."),
    port: int = typer.Option(None, help="Port (default: MILLSTREAM_API__PORT)."),
) -> None:
    """Run the API until interrupted (healthz, readyz, /api/v1/...; docs at /docs)."""
    from api.app import create_app
    from api.serving import api_server
    from cli.common import console, require
    from connectors.postgres.database import database_address

    config = settings()
    require(config, database=True)
    bind_host, bind_port = host or config.api.host, port or config.api.port
    base = f"http://{bind_host}:{bind_port}"
    database = database_address(config.database.url.get_secret_value())
    console.print(f"API on {base}/ (docs {base}/docs, metrics {base}/metrics) with PostgreSQL {database} and "
                  f"Kafka {config.kafka.bootstrap_servers}", highlight=False, soft_wrap=True)
    # api_server: on Ctrl-C/SIGTERM the UI's open event streams end first, so the server stops at once
    api_server(create_app(config), host=bind_host, port=bind_port, log_level=config.log_level.lower(),
               access_log=False).run()


@app.command("openapi")
def openapi_command() -> None:
    """Print the OpenAPI document (JSON)."""
    from api.app import create_app

    typer.echo(json.dumps(create_app(settings()).openapi(), indent=2))
