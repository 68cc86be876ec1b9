"""What dispatcher rounds came to: :class:`DispatchReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.erp.queue import AttemptResult

__all__ = ["DispatchReport"]


@dataclass
class DispatchReport:
    """Counts of one or more rounds: endpoints disabled (each once) and, with ``keep_latencies``, every
    attempt's latency (``run`` keeps none, so its memory does not grow)."""

    fanned_out: int = 0
    attempts: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    keep_latencies: bool = True

    def count(self, results: list[AttemptResult], disabled: list[str]) -> None:
        """Add recorded attempts."""
        self.attempts += len(results)
        self.delivered += sum(r.outcome == "delivered" for r in results)
        self.retried += sum(r.outcome in ("retry", "gone") for r in results)
        self.dead += sum(r.outcome == "dead" for r in results)
        self._disabled(disabled)
        if self.keep_latencies:
            self.latencies_ms += [r.latency_ms for r in results]

    def add(self, other: DispatchReport) -> None:
        self.fanned_out += other.fanned_out
        self.attempts += other.attempts
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self._disabled(other.disabled_endpoints)
        if self.keep_latencies:
            self.latencies_ms += other.latencies_ms

    def _disabled(self, endpoint_ids: list[str]) -> None:
        self.disabled_endpoints += [e for e in dict.fromkeys(endpoint_ids) if e not in self.disabled_endpoints]
