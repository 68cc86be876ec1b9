"""The dispatcher's HTTP clients: ``max_parallel`` connections spread over several small httpx clients.

httpx's connection pool slows down sharply with many connections in one client (encode/httpx#3215), so
the connections are split over clients of at most :data:`CONNECTIONS_PER_CLIENT`. There are enough clients
for ``max_parallel`` connections (rounded up), and each request takes the least loaded client: while the
dispatcher keeps at most ``max_parallel`` requests in flight, no client ever has more requests than its
pool has connections, so a request never waits for a pooled connection. The pool timeout is therefore off
(``None``) and ``timeout_s`` bounds connecting, writing and reading only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

__all__ = ["CONNECTIONS_PER_CLIENT", "ClientPool"]

CONNECTIONS_PER_CLIENT = 4


class ClientPool:
    """Clients with ``max_parallel`` connections in all; :meth:`lease` one per request."""

    def __init__(self, max_parallel: int, timeout_s: float, *, headers: dict[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connections_per_client = min(CONNECTIONS_PER_CLIENT, max_parallel)
        count = -(-max_parallel // self.connections_per_client)  # ceil: at least max_parallel connections
        limits = httpx.Limits(max_connections=self.connections_per_client,
                              max_keepalive_connections=self.connections_per_client)
        timeout = httpx.Timeout(timeout_s, pool=None)
        self.clients = [
            httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport, follow_redirects=False,
                              headers=headers)
            for _ in range(count)
        ]
        self.in_flight = [0] * count

    @property
    def connections(self) -> int:
        return self.connections_per_client * len(self.clients)

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The least loaded client, counted as busy until the block ends (use it for one request)."""
        index = min(range(len(self.clients)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.in_flight[index] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.clients = []
        self.in_flight = []
