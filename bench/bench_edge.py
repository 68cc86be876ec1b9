"""Edge validation cost: what the never-raise edge (:func:`streams.edge.admit`) costs per record.

In one process, on the same pre-encoded GPS pings (``BENCH_EDGE_N``, default 50,000):
- **baseline**: ``GpsPing.model_validate_json`` alone (pydantic parse + validate, no time policy);
- **edge, good**: ``admit`` on each as a Kafka record — size check, record-time clock, decode with the time
  policy, storable-text walk, stable id — messages/s and the ratio to the baseline;
- **edge, bad**: ``admit`` on the corpus of malformed classes (bad JSON, overflow offsets, NUL, oversize ...),
  each becoming a dead letter with size, SHA-256 and payload — messages/s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from confluent_kafka import TIMESTAMP_CREATE_TIME

from connectors.kafka.producer import timestamp_ms
from millstream.events import DeadLetter, GpsPing, TimePolicy
from streams.edge import admit

N = int(os.environ.get("BENCH_EDGE_N", "50000"))


def _rate(n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    now = datetime.now(UTC)
    stamp = (TIMESTAMP_CREATE_TIME, timestamp_ms(now))
    good = [orjson.dumps({"truck_id": f"TRK-{i % 40}", "lat": 53.4 + i / 1e6, "lon": -2.9, "speed_kmh": 50,
                          "timestamp": (now - timedelta(seconds=i % 600)).isoformat()}) for i in range(N)]
    from simulators.hostile import BAD_CLASSES, bad_messages  # the test corpus: every malformed class

    bad = [raw for _, raw in bad_messages("fleet.gps", N // 5, "bench.")]
    records = [KafkaSourceMessage(key=b"k", value=v, topic="fleet.gps", partition=0, offset=i, timestamp=stamp)
               for i, v in enumerate(good)]
    bad_records = [KafkaSourceMessage(key=b"k", value=v, topic="fleet.gps", partition=0, offset=i, timestamp=stamp)
                   for i, v in enumerate(bad)]
    policy = TimePolicy()

    baseline = _rate(N, lambda: [GpsPing.model_validate_json(v, context={"time_policy": None}) for v in good])
    edge = _rate(N, lambda: [admit(r, GpsPing, stage="bench", policy=policy, max_bytes=256 * 1024)
                             for r in records])
    letters: list[object] = []
    edge_bad = _rate(len(bad), lambda: letters.extend(
        admit(r, GpsPing, stage="bench", policy=policy, max_bytes=64 * 1024) for r in bad_records))
    assert all(isinstance(x, DeadLetter) for x in letters)
    print(f"baseline model_validate_json: {baseline:,.0f} msg/s")
    print(f"edge admit (good records):    {edge:,.0f} msg/s  ratio {edge / baseline:.2f} of baseline")
    print(f"edge admit (malformed, {len(BAD_CLASSES)}+ classes -> dead letters): {edge_bad:,.0f} msg/s")


if __name__ == "__main__":
    main()
