"""The dashboard's pages: a Starlette app with Jinja2 templates over ``DataView`` (GET only here;
the state-changing routes are in ``actions``)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from astroagent.dashboard import render
from astroagent.dashboard.chart import success_chart, time_distributions
from astroagent.dashboard.security import (
    SESSION_COOKIE, TOKEN_HEADER, DashboardSettings, Refusal, check_host, check_origin, session_value)
from astroagent.dashboard.views import DataView

__all__ = ["create_app"]

_HERE = Path(__file__).parent
Handler = Callable[[Request], Awaitable[Response]]


class Dashboard:
    """What every handler needs: the settings, the read model, the templates, notes for the next page."""

    def __init__(self, settings: DashboardSettings):
        self.settings = settings
        self.view = DataView(settings.data_dir)
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self.templates.env.filters.update(render.FILTERS)
        self.notes: dict[str, tuple[bool, str]] = {}
        self._chart: tuple[str, str, list[Any]] | None = None

    def chart(self) -> tuple[str, str, list[Any]]:
        """(stamp, svg, marks) of the success chart, drawn again only when the state or the ledger changed."""
        stamp = self.view.series_stamp()
        cached = self._chart
        if cached is None or cached[0] != stamp:
            points, marks = self.view.series()
            cached = self._chart = (stamp, success_chart(points, marks), marks)
        return cached

    def note(self, ok: bool, message: str) -> str:
        key = secrets.token_hex(6)
        if len(self.notes) > 200:
            self.notes.clear()
        self.notes[key] = (ok, message)
        return key

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        note = self.notes.pop(request.query_params.get("note", ""), None)
        context = {"request": request, "settings": self.settings, "nav": name.split(".")[0], "note": note,
                   "controls": not self.settings.read_only, "token": self.settings.token,
                   "pipeline": self.view.pipeline(), **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def refusal(self, request: Request, refusal: Refusal) -> HTMLResponse:
        context = {"request": request, "settings": self.settings, "nav": "", "note": None, "controls": False,
                   "token": None, "status": refusal.status, "message": str(refusal), "pipeline": None}
        return self.templates.TemplateResponse(request, "error.html", context, status_code=refusal.status)


def authorise(dash: Dashboard, request: Request, *, changing: bool, form: dict[str, Any] | None = None) -> None:
    """Raise ``Refusal`` unless this request may be served (see ``security``)."""
    settings = dash.settings
    check_host(settings, request.headers.get("host"))
    if "token" in request.query_params:
        raise Refusal(400, "a token is never accepted in the URL; send it in a form field or the "
                           "X-Astroagent-Token header")
    header = request.headers.get(TOKEN_HEADER)
    if changing:
        check_origin(request.headers.get("host"), request.headers.get("origin"), request.headers.get("sec-fetch-site"))
        if not settings.token_ok(header or str((form or {}).get("token") or "")):
            raise Refusal(403, "this request changes state and needs the dashboard's token")
    elif settings.login_required and not settings.token_ok(header) and \
            request.cookies.get(SESSION_COOKIE) != session_value(settings):
        raise Refusal(401, "log in with the dashboard's token first")


def reading(handler: Callable[[Dashboard, Request], Awaitable[Response]]) -> Callable[[Dashboard], Handler]:
    """A GET page: authorised (or sent to the login form), a refusal shown as a page."""
    def bind(dash: Dashboard) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                authorise(dash, request, changing=False)
                return await handler(dash, request)
            except Refusal as refusal:
                if refusal.status == 401:
                    return RedirectResponse("/login", status_code=303)
                return dash.refusal(request, refusal)
        return run
    return bind


@reading
async def overview(dash: Dashboard, request: Request) -> Response:
    analysis = dash.view.analysis()
    changes = dash.view.changes()
    return dash.page(request, "overview.html", analysis=render.analysis_summary(analysis),
                     awaiting=[c for c in changes if c.get("status") == "awaiting_approval"], recent=changes[:6])


@reading
async def success(dash: Dashboard, request: Request) -> Response:
    stamp, svg, marks = dash.chart()
    state = dash.view.state()
    return dash.page(request, "success.html", chart=svg, stamp=stamp, marks=marks,
                     experiments=state.experiments if state else 0)


@reading
async def success_fragment(dash: Dashboard, request: Request) -> Response:
    """The chart alone, for the page's poll; 304 while nothing changed (a stat of two files)."""
    stamp = dash.view.series_stamp()
    if request.headers.get("if-none-match") == f'"{stamp}"':
        return Response(status_code=304, headers={"ETag": f'"{stamp}"'})
    stamp, svg, marks = dash.chart()
    state = dash.view.state()
    return JSONResponse({"stamp": stamp, "points": len(state.history) if state else 0, "marks": len(marks),
                         "svg": svg,
                         "versions": render.version_rows(dash.view.pipeline().get("versions") or []),
                         "experiments": state.experiments if state else 0},
                        headers={"ETag": f'"{stamp}"', "Cache-Control": "no-cache"})


@reading
async def changes(dash: Dashboard, request: Request) -> Response:
    return dash.page(request, "changes.html", changes=dash.view.changes())


@reading
async def change(dash: Dashboard, request: Request) -> Response:
    found = dash.view.change(request.path_params["change_id"])
    if found is None:
        raise Refusal(404, f"no change {request.path_params['change_id']!r} in the ledger")
    return dash.page(request, "change.html", change=found, diff=render.diff_lines(found.get("diff") or ""),
                     evidence=render.flatten(found.get("evidence")),
                     statistics=render.flatten(found.get("verdict_evidence")),
                     validation=found.get("validation"), has_backup=dash.view.backup_text(found) is not None)


@reading
async def change_backup(dash: Dashboard, request: Request) -> Response:
    found = dash.view.change(request.path_params["change_id"])
    text = dash.view.backup_text(found) if found else None
    if text is None:
        raise Refusal(404, "no backup of that change inside the data directory")
    return Response(text, media_type="text/plain; charset=utf-8")


@reading
async def failures(dash: Dashboard, request: Request) -> Response:
    analysis = dash.view.analysis()
    return dash.page(request, "failures.html", analysis=render.analysis_summary(analysis),
                     patterns=(analysis or {}).get("error_patterns") or [],
                     opportunities=(analysis or {}).get("opportunities") or [],
                     times=time_distributions(render.method_rows(analysis)))


@reading
async def experiments(dash: Dashboard, request: Request) -> Response:
    return dash.page(request, "experiments.html", experiments=dash.view.experiments())


@reading
async def experiment(dash: Dashboard, request: Request) -> Response:
    found = dash.view.experiment(request.path_params["name"])
    if found is None:
        raise Refusal(404, f"no experiment {request.path_params['name']!r} in data/projects")
    return dash.page(request, "experiment.html", experiment=found, results=render.flatten(found.get("results")))


@reading
async def experiment_plot(dash: Dashboard, request: Request) -> Response:
    folder = dash.view.experiment_dir(request.path_params["name"])
    if folder is None or not (folder / "plot.png").is_file():
        raise Refusal(404, "no such plot")
    return FileResponse(folder / "plot.png", media_type="image/png")


async def login_form(request: Request) -> Response:
    dash: Dashboard = request.app.state.dashboard
    try:
        check_host(dash.settings, request.headers.get("host"))
    except Refusal as refusal:
        return dash.refusal(request, refusal)
    context = {"request": request, "settings": dash.settings, "nav": "", "note": None, "controls": False,
               "token": None, "pipeline": None, "failed": request.query_params.get("failed") == "1"}
    return dash.templates.TemplateResponse(request, "login.html", context)


async def not_found(request: Request, exc: Exception) -> Response:
    return request.app.state.dashboard.refusal(request, Refusal(404, f"no page at {request.url.path}"))


def create_app(settings: DashboardSettings) -> Starlette:
    """The ASGI app for ``settings`` (``actions`` adds the state-changing routes unless read-only)."""
    from astroagent.dashboard import actions

    dash = Dashboard(settings)
    routes = [
        Route("/", overview(dash)), Route("/success", success(dash)),
        Route("/fragments/success", success_fragment(dash)), Route("/changes", changes(dash)),
        Route("/changes/{change_id}", change(dash)), Route("/changes/{change_id}/backup", change_backup(dash)),
        Route("/failures", failures(dash)), Route("/experiments", experiments(dash)),
        Route("/experiments/{name}", experiment(dash)), Route("/experiments/{name}/plot.png", experiment_plot(dash)),
        Route("/login", login_form), Route("/login", actions.login(dash), methods=["POST"]),
        *actions.routes(dash),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.dashboard = dash
    return app
