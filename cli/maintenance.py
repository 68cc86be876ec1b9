"""``millstream maintenance``: machine health scores, alerts and ERP maintenance notifications from readings."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.postgres.database import DatabaseError
from millstream.errors import ScenarioError
from models.artifact import Registry
from streams.maintenance import build_flow
from streams.runner import run_flow


def maintenance(
    follow: bool = typer.Option(True, "--follow/--once", help="Keep consuming, or drain the topic and stop."),
    workers: int = typer.Option(1, min=1, max=32, help="Bytewax worker threads in this process."),
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="Bytewax recovery directory: resume from snapshots instead of re-reading."),
) -> None:
    """Score machine health from telemetry.readings; alerts and ERP maintenance notifications on risk.

    Scores with the model promoted in the registry (`millstream models promote`), picking up a newly
    promoted one without a restart. Sinks are idempotent: a restart adds no duplicate alert or ERP record.
    """
    s = settings()
    try:
        flow = build_flow(s, follow=follow)
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except ScenarioError as exc:
        fail(str(exc))
    registry = Registry(s.maintenance.model_registry)
    promoted = registry.promoted(s.maintenance.dataset)
    model = promoted.name if promoted else f"none promoted yet in {registry.root} (windows wait unscored)"
    mode = "following telemetry.readings" if follow else "until the end of telemetry.readings"
    console.print(f"maintenance: {mode}, {workers} worker(s), {s.maintenance.dataset} model {model}",
                  highlight=False)
    run_flow(flow, workers=workers, recovery_dir=recovery_dir)
    console.print("maintenance finished")
