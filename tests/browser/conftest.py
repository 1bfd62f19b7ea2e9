import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        message = "Chromium is needed for browser tests: apt-get install chromium"
        if os.environ.get("RELAIS_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()
        # Playwright's sync API runs the test in a greenlet of its own, where Django keeps
        # separate connections: close them here, or each browser test leaves one open
        # (PostgreSQL then refuses to drop the test database at the end of the run).
        from django.db import connections

        connections.close_all()


def login(page, base_url, username, password="un-mot-de-passe-solide"):
    page.goto(f"{base_url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
