"""The one place webhooks are sent from: :class:`WebhookClient`, an aiohttp session for ``max_parallel``
connections (the dispatcher and ``millstream webhooks send-test`` both post through it).

Why aiohttp: measured on the 2-core development machine (uvloop, 800-byte POSTs at concurrency 16 to a
bare HTTP/1.1 responder in another process), httpx's ``AsyncClient`` managed about 740 requests/s and
aiohttp's ``ClientSession`` 10,000-11,000/s; with httpx the dispatcher stayed at ~800-1,000 deliveries/s
(``bench/bench_webhooks.py``), with aiohttp it reaches 2,400-5,000/s.

- **Connections.** One connector with ``max_parallel`` connections (no per-host limit). The dispatcher
  keeps at most ``max_parallel`` requests in flight, so a request never waits for a connection and the
  measured latency is connect-if-needed + send + read the answer's start, without queueing.
- **Timeout.** ``timeout_s`` bounds the whole attempt (connecting, sending, reading the excerpt) and each
  socket read/connect.
- **Answers.** Only the first :data:`~connectors.erp.webhook_request.EXCERPT_BYTES` of a body are read; a
  longer (or endless) body drops the connection instead of being drained. Garbage that is not HTTP, a
  reset or a timeout becomes an error text on the :class:`Answer`, never an exception (with the URL's
  user-info and query redacted: aiohttp puts whole URLs into some messages). NUL bytes, which PostgreSQL
  text cannot hold, are replaced.
- **No state between endpoints.** Redirects are not followed, cookies are not kept, proxies from the
  environment are not used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from connectors.erp.targets import redact_url
from connectors.erp.webhook_request import EXCERPT_BYTES, USER_AGENT

__all__ = ["Answer", "WebhookClient", "post_once"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came to: the status (``None`` if no HTTP answer), the ``Retry-After`` header (if any),
    the start of the body, or the error; and the latency in ms."""

    status: int | None
    retry_after: str | None
    excerpt: str
    error: str | None
    latency_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookClient:
    """Posts webhook requests over up to ``max_parallel`` keep-alive connections. Open it inside the event
    loop that uses it: ``async with WebhookClient(16, 15.0) as client: await client.post(...)``."""

    def __init__(self, max_parallel: int, timeout_s: float) -> None:
        if max_parallel < 1:
            msg = "max_parallel must be at least 1"
            raise ValueError(msg)
        self.max_parallel = max_parallel
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookClient:
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def open(self) -> None:
        """Create the session (call from within the running event loop)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(limit=self.max_parallel, limit_per_host=0, enable_cleanup_closed=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, sock_connect=self.timeout_s,
                                        sock_read=self.timeout_s)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"user-agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, raise_for_status=False)

    @property
    def connections(self) -> int:
        """How many connections may be open at once."""
        return self.max_parallel

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            msg = "the webhook client is not open; use `async with WebhookClient(...)`"
            raise RuntimeError(msg)
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` to ``url``; the latency runs from here (the caller holds a connection slot) to the
        end of the excerpt."""
        session = self.session
        status: int | None = None
        retry_after: str | None = None
        error: str | None = None
        excerpt = b""
        started = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                if status in (429, 503):
                    retry_after = response.headers.get("retry-after")
                excerpt = await _read_excerpt(response.content)
        except TimeoutError:  # aiohttp's ServerTimeoutError is one too
            error = f"timeout after {self.timeout_s:g} s"
        except (aiohttp.ClientError, ValueError) as exc:  # resets, refused, not HTTP, bad URL
            error = _describe(exc, url)
        latency_ms = (time.perf_counter() - started) * 1000
        # PostgreSQL text cannot hold NUL: a receiver's NUL bytes must not stop the attempt from being logged
        text = excerpt.decode("utf-8", "replace").replace("\x00", "\ufffd")
        return Answer(status, retry_after, text, error and error.replace("\x00", "\ufffd"), latency_ms)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException, url: str) -> str:
    """An error for the attempt log and logs: aiohttp puts the whole URL (user-info, query) into some of
    its messages, so those parts are redacted."""
    if isinstance(exc, aiohttp.ClientResponseError):  # not HTTP (its text would end in "url=<the URL>")
        return f"{type(exc).__name__}: invalid HTTP answer: {' '.join(str(exc.message).split())}"[:500]
    elif isinstance(exc, aiohttp.InvalidURL):
        text = redact_url(url)
    else:
        text = str(exc)
        for shown in _spellings(url):
            text = text.replace(shown, redact_url(url))
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def _spellings(url: str) -> set[str]:
    """``url`` as given and as aiohttp may print it."""
    try:
        return {url, str(URL(url))}
    except (ValueError, TypeError):
        return {url}


async def _read_excerpt(content: aiohttp.StreamReader) -> bytes:
    """Up to EXCERPT_BYTES of the body; the rest is not read (the connection is then dropped on release)."""
    received = b""
    while len(received) < EXCERPT_BYTES:
        chunk = await content.read(EXCERPT_BYTES - len(received))
        if not chunk:
            break
        received += chunk
    return received


async def post_once(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Answer:
    """One request on a client of its own (``send-test``)."""
    async with WebhookClient(1, timeout_s) as client:
        return await client.post(url, body, headers)

