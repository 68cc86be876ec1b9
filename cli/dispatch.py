"""``millstream dispatch``: deliver the ERP outbox to the webhook endpoints until stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import psycopg
import typer

from cli.common import EXIT_UNAVAILABLE, console, fail, require, settings
from cli.status import live_status
from connectors.erp.dispatcher import Dispatcher, DispatcherBusyError, DispatchReport
from connectors.postgres.database import database_address
from millstream.metrics import DEAD_LETTERS, WEBHOOK_ATTEMPTS, counter_total, serve_metrics

__all__ = ["dispatch_command"]


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]): about twice the deliveries per second."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def dispatch_command(
    once: bool = typer.Option(False, "--once", help="Deliver what is due now, then exit."),
    poll_interval: float = typer.Option(0.25, min=0.01, help="Seconds to wait when nothing is due."),
    publish_kafka: bool = typer.Option(False, "--publish-kafka", help="Also put each record on erp.events."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics (/metrics)."),
) -> None:
    """Fan out new ERP records to the webhook endpoints and deliver them as signed CloudEvents, with retries
    (Standard Webhooks schedule), Retry-After, 410 handling, dead letters. Stop with Ctrl-C."""
    config = settings()
    require(config, database=True, kafka=publish_kafka)
    serve_metrics(metrics_port)
    console.print(f"dispatch: PostgreSQL {database_address(config.database.url.get_secret_value())} (ERP outbox) -> "
                  "webhook endpoints" + (f" and Kafka {config.kafka.bootstrap_servers}" if publish_kafka else "")
                  + (f"; metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""),
                  highlight=False, soft_wrap=True)

    def status() -> str:
        delivered = counter_total(WEBHOOK_ATTEMPTS, outcome="delivered")
        attempts = counter_total(WEBHOOK_ATTEMPTS)
        return (f"dispatch | attempts {attempts:.0f} | delivered {delivered:.0f} | not delivered "
                f"{attempts - delivered:.0f} | dead-lettered {counter_total(DEAD_LETTERS):.0f}")

    async def run() -> DispatchReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        kafka = config.kafka if publish_kafka else None
        async with Dispatcher(config.database, config.webhooks, kafka=kafka) as dispatcher:
            if once:
                return await dispatcher.run_until_idle()
            with live_status(status, summary="dispatch stopped"):
                return await dispatcher.run(stop, poll_interval)

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            report = runner.run(run())
    except DispatcherBusyError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except psycopg.OperationalError as exc:
        fail(f"cannot reach PostgreSQL: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}",
             EXIT_UNAVAILABLE)
    console.print(f"records fanned out {report.fanned_out}, attempts {report.attempts}, delivered "
                  f"{report.delivered}, to retry {report.retried}, dead-lettered {report.dead}")
    if report.disabled_endpoints:
        console.print(f"endpoints disabled (410 Gone): {', '.join(report.disabled_endpoints)}")
