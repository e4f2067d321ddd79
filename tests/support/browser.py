"""A real headless browser for the dashboard tests: Debian's Chromium driven by
Playwright (no browser download at test time). Absent, the tests skip, except
under CI=true or SENTIMENT_REQUIRE_SERVICES=1."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.skips import missing

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("SENTIMENT_TEST_ARTIFACTS", "test-artifacts"))


def chromium_path() -> str:
    path = os.environ.get("SENTIMENT_CHROMIUM") or shutil.which("chromium")
    if not path:
        missing("Chromium is not installed (Debian: apt-get install chromium)")
    return str(path)


@contextmanager
def browser_page() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            # The server's Content-Security-Policy blocks inline scripts and styles
            # silently; the browser says so on its console, and that fails the test.
            # (Wait with selectors or URLs, not wait_for_function: its polling evaluates
            # a string, which the policy refuses too.)
            blocked: list[str] = []
            page.on(
                "console",
                lambda message: (
                    blocked.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            yield page
            assert not blocked, f"the page broke its Content-Security-Policy: {blocked}"
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ (SENTIMENT_TEST_ARTIFACTS)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
