"""issue 18: the console. Logged-out requests get no data; a login gives every page; the figures on the pages
equal the store's; a set-aside change can be retried (with the session's CSRF token only)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import LAST_CYCLE, LATER, TOKEN, Filled, serving
from tests.sync.platforms import NOW

HTML = {"accept": "text/html"}


@pytest.fixture
def client(filled: Filled) -> Iterator[httpx.Client]:
    with serving(filled.console_app()) as opened:
        yield opened


def log_in(client: httpx.Client) -> httpx.Client:
    form = client.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post("/login", data={"csrf": csrf.group(1), "token": TOKEN, "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_logged_out_request_gets_no_data(filled: Filled, client: httpx.Client) -> None:
    emails = [r.record.email for r in filled.store.records_of("salesforce", filled.raised) if r.record.email]
    for path in ("/", "/models", f"/contact/salesforce/{filled.raised}", f"/contact?q={emails[0]}"):
        browser = client.get(path, headers=HTML, follow_redirects=False)
        assert browser.status_code == 303
        assert browser.headers["location"].startswith("/login")
        script = client.get(path, follow_redirects=False)
        assert script.status_code == 401
        for answer in (browser, script):
            assert filled.raised not in answer.text
            assert emails[0] not in answer.text
    retry = client.post("/sources/salesforce/retry", data={"entry": "1"}, follow_redirects=False)
    assert retry.status_code == 401
    wrong = client.get("/", headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401


def test_a_wrong_token_or_a_stale_form_does_not_log_in(client: httpx.Client) -> None:
    csrf = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"csrf": csrf, "token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "That token is not the console" in wrong.text
    stale = client.post("/login", data={"csrf": "forged", "token": TOKEN}, follow_redirects=False)
    assert stale.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 401


def test_scripts_authenticate_with_a_bearer_token_or_basic_auth(client: httpx.Client) -> None:
    assert client.get("/models", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    basic = base64.b64encode(f"revops:{TOKEN}".encode()).decode()
    assert client.get("/models", headers={"authorization": f"Basic {basic}"}).status_code == 200


def test_the_sources_page_shows_the_stores_runs_and_set_aside_changes(filled: Filled, client: httpx.Client) -> None:
    log_in(client)
    page = client.get("/").text
    runs = filled.store.recent_runs("salesforce", 10)
    assert len(runs) == 3
    assert page.count('<tr class="run">') == len(runs)
    shown_read = [int(n) for n in re.findall(r'class="n contacts-read">(\d+)<', page)]
    assert shown_read == [run.report["contacts_read"] for run in runs]
    shown_calls = [int(n) for n in re.findall(r'class="n api-calls">(\d+)<', page)]
    assert shown_calls == [sum(run.report["api_calls"].values()) for run in runs]
    set_aside = filled.store.set_aside_list("salesforce")
    assert [entry.contact_id for entry in set_aside] == [filled.locked] * len(set_aside)
    assert set_aside
    assert f'<strong class="set-aside-count">{len(set_aside)}</strong>' in page
    assert "UNABLE_TO_LOCK_ROW" in page


def test_a_set_aside_change_is_retried_with_the_sessions_csrf_token_only(filled: Filled, client: httpx.Client) -> None:
    log_in(client)
    page = client.get("/").text
    before = filled.store.set_aside_list("salesforce")
    entries = [entry.entry_id for entry in before]
    forged = client.post("/sources/salesforce/retry", data={"entry": entries}, follow_redirects=False)
    assert forged.status_code == 403
    assert filled.store.set_aside_list("salesforce") == before, "a form without the session's token changes nothing"
    done = client.post(
        "/sources/salesforce/retry", data={"entry": entries, "csrf": csrf_of(page)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert "retried=" in done.headers["location"]
    assert all(e.not_before == LATER for e in filled.store.set_aside_list("salesforce"))
    filled.platform.sandbox.locked_ids.clear()
    report = filled.cycle(LATER - NOW)
    assert report.status == "ok"
    assert filled.store.set_aside_list("salesforce") == [], "the retried change went through"
    assert filled.platform.shown(filled.locked)["score"] is not None


def test_the_models_page_figures_equal_the_stores(filled: Filled, client: httpx.Client) -> None:
    log_in(client)
    page = client.get("/models").text
    engine = filled.engines[0]
    matrix = filled.store.grade_band_counts(engine.name)
    for (grade, band), count in matrix.items():
        assert f'data-cell="{grade}-{band}">{count}<' in page
    live = len(filled.platform.contact_ids())
    assert f'<strong class="records">{live}</strong>' in page
    buckets = filled.store.score_histogram(engine.name)
    assert sum(buckets.values()) == live
    for start, count in buckets.items():
        assert f'data-bucket="{start}">{count}<' in page
    assert page.count("<svg") >= 2, "the histogram and the weekly charts are inline SVG"
    entered = sum(int(n) for n in re.findall(r'data-entered="(?:MQL|SQL)">(\d+)<', page))
    history = [
        e
        for cid in filled.platform.contact_ids()
        for e in filled.store.score_history("salesforce", cid, engine.name)
        if e.new_band in ("MQL", "SQL") and e.old_band != e.new_band
    ]
    assert entered == len(history)
    assert entered >= 1
    flows = filled.store.weekly_flows(engine.name, NOW - timedelta(weeks=12))
    assert flows
    assert all(flow.week.weekday() == 0 and flow.week.hour == 0 for flow in flows), "weeks start on Monday"


def test_the_contact_page_explains_the_stored_score_and_shows_its_history(filled: Filled) -> None:
    with serving(filled.console_app(at=LAST_CYCLE)) as client:
        log_in(client)
        contact_page_checks(filled, client)


def contact_page_checks(filled: Filled, client: httpx.Client) -> None:
    record = filled.store.records_of("salesforce", filled.raised)[0]
    found = client.get(f"/contact?q={record.record.email}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"].endswith(f"/contact/salesforce/{filled.raised}")
    page = client.get(found.headers["location"]).text
    engine = filled.engines[0]
    stored = record.scores[engine.name]
    explained = page[page.index('class="explain"') :]
    assert f'<span class="score">{stored[0]}</span>' in explained, "the explain scores as the cycle stored"
    history = filled.store.score_history("salesforce", filled.raised, engine.name)
    assert page.count("</tr>", page.index('class="history"')) == len(history) + 1
    assert "demo" in page.lower()
    assert "<svg" in page[page.index("History") :]
    missing = client.get("/contact/salesforce/no-such-record")
    assert missing.status_code == 404


def test_the_reports_page_lists_and_serves_plan_and_backtest_reports_only(filled: Filled, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "backtest.html").write_text("<html><body>AUC 0.81</body></html>")
    (folder / "plan.json").write_text('{"entering": {"MQL": 3}}')
    (folder / "notes.txt").write_text("not a report")
    (tmp_path / "secret.json").write_text('{"token": "x"}')
    with serving(filled.console_app(reports=folder)) as client:
        assert client.get("/reports/backtest.html").status_code == 401
        log_in(client)
        listing = client.get("/reports").text
        assert "backtest.html" in listing
        assert "plan.json" in listing
        assert "notes.txt" not in listing
        assert "AUC 0.81" in client.get("/reports/backtest.html").text
        assert client.get("/reports/plan.json").json() == {"entering": {"MQL": 3}}
        assert client.get("/reports/notes.txt").status_code == 404
        assert client.get("/reports/..%2Fsecret.json").status_code == 404
