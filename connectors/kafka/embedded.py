"""An embedded Kafka broker for a local run: librdkafka's built-in mock cluster, owned by one small process.

``python -m connectors.kafka.embedded --address-file F`` starts a one-broker mock cluster, creates the declared
topics (the mock cluster creates a topic when a producer first asks for its metadata; it has no CreateTopics),
writes the broker's ``host:port`` to ``F`` and lives until SIGTERM/SIGINT. Every process of the run reaches the
broker over TCP while its owner lives. It keeps messages in memory only: nothing survives the owner.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from confluent_kafka import Producer

from connectors.kafka.topics import TOPICS
from millstream.settings import KafkaSettings

__all__ = ["start_mock_cluster"]


def start_mock_cluster(settings: KafkaSettings, timeout_s: float = 10.0) -> tuple[Producer, str]:
    """Start the mock cluster in this process, create the declared topics; (owner, ``host:port``)."""
    owner = Producer({"test.mock.num.brokers": 1, "client.id": "millstream-embedded-broker",
                      "log_level": 3})
    metadata = owner.list_topics(timeout=timeout_s)
    address = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    for topic in TOPICS:
        owner.list_topics(topic=topic.full_name(settings), timeout=timeout_s)
    return owner, address


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address-file", type=Path, required=True)
    parser.add_argument("--topic-prefix", default="")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    owner, address = start_mock_cluster(KafkaSettings(topic_prefix=args.topic_prefix))
    tmp = args.address_file.with_suffix(".tmp")
    tmp.write_text(address + "\n")
    os.replace(tmp, args.address_file)
    print(f"embedded Kafka broker (librdkafka mock cluster) listening on {address}", flush=True)
    while not stop.wait(1.0):
        owner.poll(0)
    args.address_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
