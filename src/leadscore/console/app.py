"""The console: sources and their runs, the models' distributions and KPIs, one contact's records, explain and
history, in server-rendered pages (``LEADSCORE_CONSOLE=true`` on the daemon, or ``leadscore console``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from leadscore.clock import utcnow
from leadscore.console import charts
from leadscore.console.auth import SESSION_USER, csrf_token, guarded, logged_in, token_matches
from leadscore.console.figures import (
    band_stocks,
    bands_of,
    days_summary,
    explain_person,
    moved_rules,
    qualified_bands,
)
from leadscore.engine import Engine
from leadscore.people import PeopleScope
from leadscore.store import Store
from leadscore.store.tallies import BUCKET

HISTOGRAM_WIDTH = BUCKET
WEEKS_SHOWN = 12
SESSION_HOURS = 12
REPORT_SUFFIXES = (".html", ".json")


@dataclass(frozen=True)
class ConsoleConfig:
    store: Store
    engines: Sequence[Engine]
    token: str
    sources: Sequence[tuple[str, str]]
    """(name, platform title) of every source shown."""
    model_file: str = ""
    reports: Path | None = None
    """A folder of plan and backtest reports (``plan --json``, ``backtest --report/--json``) to list and serve."""
    people: PeopleScope | None = None
    clock: Callable[[], datetime] = utcnow
    secure_cookie: bool = False
    templates: Environment = field(
        default_factory=lambda: Environment(
            loader=PackageLoader("leadscore.console", "templates"), autoescape=select_autoescape(["html"])
        )
    )


def create_console(config: ConsoleConfig) -> Starlette:
    store, templates = config.store, config.templates

    def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = templates.get_template(template).render(
            request=request,
            csrf=csrf_token(request),
            logged_in=logged_in(request, config.token),
            model_file=config.model_file,
            **values,
        )
        return HTMLResponse(body, status, headers={"Cache-Control": "no-store"})

    async def login_form(request: Request) -> Response:
        return page(request, "login.html", next=request.query_params.get("next", "/"), error="")

    async def login(request: Request) -> Response:
        form = await request.form()
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if form.get("csrf") != request.session.get("csrf"):
            return page(request, "login.html", 403, next=target, error="The form expired; try again.")
        if not token_matches(str(form.get("token") or ""), config.token):
            return page(request, "login.html", 401, next=target, error="That token is not the console's.")
        request.session.clear()
        request.session["user"] = SESSION_USER
        return RedirectResponse(target, 303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", 303)

    async def sources_page(request: Request) -> Response:
        def gather() -> list[dict[str, Any]]:
            return [
                {
                    "name": name,
                    "title": title,
                    "runs": store.recent_runs(name, 10),
                    "pending": store.outbox_depth(name, status="pending"),
                    "set_aside": store.set_aside_list(name),
                }
                for name, title in config.sources
            ]

        return page(request, "sources.html", sources=await run_in_threadpool(gather))

    async def retry(request: Request) -> Response:
        source = request.path_params["source"]
        form = await request.form()
        ids = [int(value) for value in form.getlist("entry") if isinstance(value, str) and value.isdigit()]
        if source not in dict(config.sources):
            return page(request, "message.html", 404, message="No such source.")
        done = await run_in_threadpool(store.retry_set_aside, source, ids, config.clock())
        return RedirectResponse(f"/?retried={done}#source-{quote(source)}", 303)

    async def models_page(request: Request) -> Response:
        now = config.clock()
        since = now - timedelta(weeks=WEEKS_SHOWN)

        def gather() -> list[dict[str, Any]]:
            shown = []
            for engine in config.engines:
                bands = bands_of(engine)
                names = [name for name, _ in bands]
                buckets = store.score_histogram(engine.name)
                matrix = store.grade_band_counts(engine.name)
                current = {band: sum(c for (_, b), c in matrix.items() if b == band) for band in names}
                flows = store.weekly_flows(engine.name, since)
                stocks = band_stocks(current, flows, names)
                qualified = qualified_bands(engine)
                weeks = [flow.week for flow in flows]
                grades = sorted({grade for grade, _ in matrix} | {g.name for g in engine.model.grades})
                shown.append(
                    {
                        "engine": engine,
                        "records": sum(buckets.values()),
                        "histogram": charts.score_histogram(
                            buckets, HISTOGRAM_WIDTH, bands, f"{engine.name}: live records by score"
                        ),
                        "buckets": buckets,
                        "grades": grades,
                        "bands": names,
                        "matrix": matrix,
                        "current": current,
                        "flows": list(zip(flows, stocks, strict=True)),
                        "qualified": qualified,
                        "stocks_chart": charts.weekly_lines(
                            weeks,
                            {b: [s[b] for s in stocks] for b in names},
                            "records per band, end of week",
                            "records",
                        )
                        if flows
                        else "",
                        "entries_chart": charts.weekly_lines(
                            weeks,
                            {b: [float(f.entered.get(b, 0)) for f in flows] for b in qualified},
                            "entries into qualified bands per week",
                            "records",
                        )
                        if flows
                        else "",
                        "average_chart": charts.weekly_lines(
                            weeks,
                            {
                                "live records, end of week": [f.average_score for f in flows],
                                "records whose score changed": [f.average_new_score for f in flows],
                            },
                            "average score",
                            "score",
                        )
                        if flows
                        else "",
                        "days": days_summary(store.days_to_band(engine.name, qualified, since)),
                    }
                )
            return shown

        return page(request, "models.html", models=await run_in_threadpool(gather), since=since)

    async def contact_search(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        found = await run_in_threadpool(store.find_records, query, [n for n, _ in config.sources]) if query else []
        if len(found) == 1:
            only = found[0]
            return RedirectResponse(f"/contact/{quote(only.source)}/{quote(only.contact_id, safe='')}", 303)
        return page(request, "search.html", query=query, found=found)

    async def contact_page(request: Request) -> Response:
        source, contact_id = request.path_params["source"], request.path_params["contact_id"]
        now = config.clock()

        def gather() -> dict[str, Any] | None:
            records = store.records_of(source, contact_id)
            if not records:
                return None
            first = config.engines[0]
            history = {
                (r.source, r.contact_id): store.score_history(r.source, r.contact_id, first.name) for r in records
            }
            mine = history.get((source, contact_id), [])
            return {
                "records": records,
                "written": {(r.source, r.contact_id): store.written_record(r.source, r.contact_id) for r in records},
                "explained": explain_person(config.engines, records, config.people, now),
                "history": list(zip(mine, moved_rules(mine), strict=True)),
                "history_chart": charts.score_over_time(mine, bands_of(first), f"{first.name}: score of this record")
                if mine
                else "",
                "model": first.name,
            }

        shown = await run_in_threadpool(gather)
        if shown is None:
            return page(request, "message.html", 404, message=f"No record {contact_id} in {source}.")
        return page(request, "contact.html", source=source, contact_id=contact_id, now=now, **shown)

    def report_files() -> list[Path]:
        folder = config.reports
        if folder is None or not folder.is_dir():
            return []
        found = [f for f in folder.iterdir() if f.is_file() and f.suffix in REPORT_SUFFIXES]
        return sorted(found, key=lambda f: f.stat().st_mtime, reverse=True)

    async def reports_page(request: Request) -> Response:
        files = [
            (f.name, datetime.fromtimestamp(f.stat().st_mtime, UTC), f.stat().st_size)
            for f in await run_in_threadpool(report_files)
        ]
        return page(request, "reports.html", files=files, folder=str(config.reports or ""))

    async def report_file(request: Request) -> Response:
        name = request.path_params["name"]
        chosen = next((f for f in await run_in_threadpool(report_files) if f.name == name), None)
        if chosen is None:
            return page(request, "message.html", 404, message="No such report.")
        kind = "text/html" if chosen.suffix == ".html" else "application/json"
        return FileResponse(chosen, media_type=kind, headers={"Cache-Control": "no-store"})

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guarded(config.token, logout), methods=["POST"]),
        Route("/", guarded(config.token, sources_page)),
        Route("/sources/{source}/retry", guarded(config.token, retry), methods=["POST"]),
        Route("/models", guarded(config.token, models_page)),
        Route("/contact", guarded(config.token, contact_search)),
        Route("/contact/{source}/{contact_id:path}", guarded(config.token, contact_page)),
        Route("/reports", guarded(config.token, reports_page)),
        Route("/reports/{name}", guarded(config.token, report_file)),
    ]
    secret = hashlib.sha256(f"leadscore-console-session:{config.token}".encode()).hexdigest()
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="leadscore_console",
                max_age=SESSION_HOURS * 3600,
                same_site="strict",
                https_only=config.secure_cookie,
            )
        ],
    )
