"""A simulator's output as one timeline: events to publish and ground-truth facts, each at a simulated instant.

Generators (fleet, gates) build timelines without any broker, so tests check their logic in-process;
:func:`play` then delivers a timeline against a :class:`SimClock` — publishing events through a callback
(e.g. :class:`connectors.kafka.producer.EventProducer`) and writing facts to the ground truth as their time
comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from millstream.events.base import Event
from simulators.clock import SimClock
from simulators.groundtruth import Fact, GroundTruth

__all__ = ["Emission", "PlayStats", "play"]


@dataclass(frozen=True)
class Emission:
    """At simulated instant ``at``: an ``event`` is delivered, or a ``fact`` becomes true."""

    at: datetime
    event: Event | None = None
    fact: Fact | None = None


@dataclass
class PlayStats:
    events: int = 0
    facts: int = 0
    sim_time: datetime | None = None


async def play(timeline: Iterable[Emission], clock: SimClock, send: Callable[[Event], None], truth: GroundTruth,
               stop: asyncio.Event, until: datetime | None = None, stats: PlayStats | None = None) -> PlayStats:
    """Deliver ``timeline`` in simulated time until it ends, ``until`` passes or ``stop`` is set."""
    stats = stats or PlayStats()
    for emission in timeline:
        if stop.is_set() or (until is not None and emission.at > until):
            break
        delay = clock.wall_delay_until(emission.at)
        if delay > 0.002:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                break
            except TimeoutError:
                pass
        elif stats.events % 1000 == 0:
            await asyncio.sleep(0)  # let signal handlers and progress run when far behind
        if emission.event is not None:
            send(emission.event)
            stats.events += 1
        if emission.fact is not None:
            f = emission.fact
            truth.record(f.time, f.kind, f.subject, **f.details)
            stats.facts += 1
        stats.sim_time = emission.at
    return stats
