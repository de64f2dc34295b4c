"""issue 18, in a real browser: Debian's Chromium driven by Playwright (nothing downloads; skipped, saying why,
where either is missing). Logs in, opens each page against a store filled by sandbox cycles, checks the figures
on the page against the store, retries a set-aside change, and logs out; a screenshot of each page is kept in
``LEADSCORE_ARTEFACTS`` (default: .artefacts/console beside the tests)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import LAST_CYCLE, TOKEN, Filled, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(os.environ.get("LEADSCORE_ARTEFACTS", Path(__file__).resolve().parents[2] / ".artefacts")) / "console"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_every_page_in_chromium_shows_the_stores_figures(filled: Filled, browser_page: Any) -> None:
    page = browser_page
    with serving(filled.console_app(at=LAST_CYCLE)) as client:
        base = str(client.base_url)
        page.goto(f"{base}/models")
        assert page.url.startswith(f"{base}/login"), "logged out, the browser is sent to the login page"
        assert page.locator("table").count() == 0
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert "not the console" in page.inner_text("#login-error")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/models")
        shot(page, "models")
        engine = filled.engines[0]
        for (grade, band), count in filled.store.grade_band_counts(engine.name).items():
            assert page.inner_text(f'[data-cell="{grade}-{band}"]') == str(count)
        assert page.locator("svg").count() >= 2

        page.goto(f"{base}/")
        shot(page, "sources")
        runs = filled.store.recent_runs("salesforce", 10)
        assert page.locator("tr.run").count() == len(runs)
        shown = [int(t) for t in page.locator("td.contacts-read").all_inner_texts()]
        assert shown == [run.report["contacts_read"] for run in runs]
        waiting = len(filled.store.set_aside_list("salesforce"))
        assert page.inner_text(".set-aside-count") == str(waiting)
        assert waiting >= 1
        page.click("form.retry button[type=submit]")
        page.wait_for_selector("#retried")
        assert page.inner_text("#retried").startswith(f"{waiting} set-aside changes")
        assert all(e.not_before == LAST_CYCLE for e in filled.store.set_aside_list("salesforce"))

        email = filled.store.records_of("salesforce", filled.raised)[0].record.email
        page.fill("header input[name=q]", email or filled.raised)
        page.press("header input[name=q]", "Enter")
        page.wait_for_url(f"**/contact/salesforce/{filled.raised}")
        shot(page, "contact")
        stored = filled.store.records_of("salesforce", filled.raised)[0].scores[engine.name]
        assert page.inner_text(f'.explain[data-model="{engine.name}"] .score') == str(stored[0])
        history = filled.store.score_history("salesforce", filled.raised, engine.name)
        assert page.locator("table.history tbody tr").count() == len(history)

        page.click("header form[action='/logout'] button")
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/contact/salesforce/{filled.raised}")
        assert page.url.startswith(f"{base}/login")
        assert (email or "") not in page.content()
