"""``millstream kafka``: topics."""

from __future__ import annotations

import typer

from cli.common import EXIT_UNAVAILABLE, console, fail, require, settings
from connectors.kafka.admin import KafkaAdminError, create_topics
from connectors.kafka.topics import TOPICS

app = typer.Typer(help="Kafka topics.", no_args_is_help=True)


@app.command("create-topics")
def create_topics_command(
    timeout: float = typer.Option(30.0, help="Seconds to wait for the broker."),
) -> None:
    """Create the declared topics that do not exist yet (idempotent)."""
    config = settings()
    require(config, kafka=True)
    kafka = config.kafka
    try:
        results = create_topics(kafka, TOPICS, timeout_s=timeout)
    except KafkaAdminError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    for result in results:
        note = f"  ({result.note})" if result.note else ""
        console.print(f"{result.status:8} {result.name}  partitions={result.partitions}{note}")


@app.command("topics")
def topics_command() -> None:
    """List the declared topics: name, partitions, key, retention."""
    prefix = settings().kafka.topic_prefix
    for topic in TOPICS:
        console.print(f"{prefix}{topic.name:20} partitions={topic.partitions} key={topic.key:12} "
                      f"retention={topic.retention.days}d  {topic.description}")
