"""Browser test helpers: logging in, where screenshots go."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.helpers.paths import ROOT

ARTIFACTS = ROOT / ".cache" / "ui-artifacts"


def login(page: Page, base_url: str, token: str) -> None:
    """Open the UI and log in with ``token`` through the log-in form; returns once the shell is shown."""
    page.goto(base_url + "/")
    page.locator("#api-key").fill(token)
    page.locator("#login-submit").click()
    expect(page.locator("#nav")).to_be_visible()
