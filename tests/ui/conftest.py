"""Browser-test fixtures: the API (with the web UI) served by uvicorn on a free 127.0.0.1 port, in a thread,
against a migrated database of its own; Debian's chromium driven by Playwright; a logged-in page.

A pipeline's page test needs only::

    def test_my_page(ui_page, ui_url, ui_db):      # ui_page is logged in as admin, on the first page
        ui_page.goto(f"{ui_url}/#/plant")
        expect(ui_page.locator("h1")).to_have_text("Plant")

``ui_db`` is an autocommit connection to the API's database (insert what the page shows); ``ui_keys`` holds a
key per role; ``login(page, token)`` logs a fresh page in. Each test leaves a full-page screenshot in
``.cache/ui-artifacts/<test>.png`` (gitignored; the path is printed at the end of the run).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.app import create_app
from api.serving import api_server
from connectors.kafka.admin import create_topics
from connectors.kafka.topics import ALERTS
from connectors.postgres.apikeys import ROLES, create_api_key
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings
from tests.helpers.databases import create_database, drop_database
from tests.helpers.net import free_port
from tests.helpers.ui import ARTIFACTS, login

# Playwright must never fetch a browser of its own: the tests drive the system's chromium.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
from playwright.sync_api import Browser, Page, expect, sync_playwright

__all__ = ["ARTIFACTS", "CHROMIUM", "login"]

CHROMIUM = "/usr/bin/chromium"
#: How long the UI may take to show something (the API answers locally; CPU is shared).
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def ui_settings(server_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings of the API under test: its own database, its own topic prefix, a short keep-alive."""
    url = create_database(server_url, "millstream_ui")
    settings = load_settings(database={"url": url, "pool_max_size": 6},
                             kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": f"ui{uuid.uuid4().hex[:8]}."},
                             webhooks={"allow_private_targets": True}, api={"sse_keepalive_s": 2.0})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    create_topics(settings.kafka, [ALERTS])
    yield settings
    drop_database(url)


@pytest.fixture(scope="session")
def ui_url(ui_settings: Settings) -> Iterator[str]:
    """The base URL of the running API + UI (uvicorn in a thread, stopped at the end of the session)."""
    yield from _served(ui_settings)


@pytest.fixture(scope="session")
def ui_url_without_database() -> Iterator[str]:
    """The same server on a PostgreSQL nothing listens on (a real refused connection, no mock): for what the
    UI serves without reading data (its page and static files, the 401 of a request without a key)."""
    yield from _served(Settings(database={"url": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"}))


def _served(settings: Settings) -> Iterator[str]:
    port = free_port()
    server = api_server(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, name="ui-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the API did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    server.end_streams()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def ui_keys(ui_settings: Settings) -> dict[str, str]:
    """A live API key per role: role -> token."""
    with connect(ui_settings.database, autocommit=True) as conn:
        return {role: create_api_key(conn, role, f"ui test {role}").token for role in ROLES}


@pytest.fixture
def ui_db(ui_settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the API's database."""
    with connect(ui_settings.database, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap-system.sh installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (own context: empty sessionStorage/localStorage), English, UTC; screenshot at the end."""
    context = browser.new_context(locale="en-US", timezone_id="UTC", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a text missing from the catalogue at run time (e.g. a key built from data) is an error too
    page.on("console", lambda msg: errors.append(msg.text) if msg.text.startswith("i18n:") else None)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"




@pytest.fixture
def ui_page(page: Page, ui_url: str, ui_keys: dict[str, str]) -> Page:
    """A page logged in as admin (every page and panel visible)."""
    login(page, ui_url, ui_keys["admin"])
    return page


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS.exists() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"UI screenshots: {ARTIFACTS}")
