"""The dashboard's state-changing routes (POST only, token + Origin checked, absent when read-only).

Approve, reject and roll back act on the ledger and the workspace directly (under the Lab
Technician's lock, as the CLI does); the pipeline's own controls go through the control channel
(``orchestration/control``), which the running pipeline polls.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from astroagent.dashboard.security import SESSION_COOKIE, Refusal, check_host, check_origin, session_value
from astroagent.errors import AstroAgentError

if TYPE_CHECKING:
    from astroagent.dashboard.app import Dashboard

__all__ = ["routes", "login"]

_CONTROLS = {"run-lab-technician": "run_lab_technician", "enable-lab-technician": "enable_lab_technician",
             "disable-lab-technician": "disable_lab_technician", "set-lab-interval": "set_lab_interval"}


def _changing(work: Callable[[Dashboard, Request, dict[str, Any]], Awaitable[Response]]):
    """A POST: form read, authorised (token + origin), refusals shown as a page with their status."""
    def bind(dash: Dashboard) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(work)
        async def run(request: Request) -> Response:
            from astroagent.dashboard.app import authorise
            try:
                form = dict(await request.form())
                authorise(dash, request, changing=True, form=form)
                return await work(dash, request, form)
            except Refusal as refusal:
                return dash.refusal(request, refusal)
        return run
    return bind


def _back(dash: Dashboard, where: str, ok: bool, message: str) -> Response:
    return RedirectResponse(f"{where}?note={dash.note(ok, message)}", status_code=303)


@_changing
async def control(dash: Dashboard, request: Request, form: dict[str, Any]) -> Response:
    from astroagent.orchestration.control import submit

    action = _CONTROLS.get(request.path_params["action"])
    if action is None:
        raise Refusal(404, f"no control {request.path_params['action']!r}")
    if not dash.view.pipeline()["running"]:
        raise Refusal(409, "no pipeline is running on this data directory (start `astroagent run`); "
                           "nothing to steer")
    args = {"seconds": form.get("seconds"), "force": form.get("force") in ("1", "on", "true")}
    try:
        request_id = submit(dash.settings.data_dir, action, args)
    except AstroAgentError as exc:
        raise Refusal(400, str(exc)) from None
    return _back(dash, "/", True, f"asked the pipeline to {action.replace('_', ' ')} (request {request_id})")


def _workspace(dash: Dashboard):
    if dash.settings.workspace is None:
        raise Refusal(409, "no workspace (astroagent.yaml) here: the dashboard cannot change code")
    return dash.settings.workspace


def _known(dash: Dashboard, change_id: str) -> None:
    if dash.view.change(change_id) is None:
        raise Refusal(404, f"no change {change_id!r} in the ledger")


@_changing
async def approve(dash: Dashboard, request: Request, form: dict[str, Any]) -> Response:
    from astroagent.config import load_config
    from astroagent.labtech import approve_change

    change_id = request.path_params["change_id"]
    _known(dash, change_id)
    workspace = _workspace(dash)
    try:
        stored = await run_in_threadpool(approve_change, change_id, data_dir=dash.settings.data_dir,
                                         workspace=workspace, config=load_config(workspace), by="dashboard")
    except AstroAgentError as exc:
        return _back(dash, f"/changes/{change_id}", False, f"not applied: {exc}")
    return _back(dash, f"/changes/{change_id}", True,
                 f"approved and applied; {stored.get('file')} now has code version "
                 f"{stored.get('code_version_after') or '?'}")


@_changing
async def reject(dash: Dashboard, request: Request, form: dict[str, Any]) -> Response:
    from astroagent.labtech import reject_change

    change_id = request.path_params["change_id"]
    _known(dash, change_id)
    try:
        await run_in_threadpool(reject_change, change_id, data_dir=dash.settings.data_dir,
                                why=str(form.get("why") or "") or None, by="dashboard")
    except AstroAgentError as exc:
        return _back(dash, f"/changes/{change_id}", False, f"not rejected: {exc}")
    return _back(dash, f"/changes/{change_id}", True, "rejected; nothing was changed")


def _rollback(change_id: str, data_dir, workspace) -> dict[str, Any]:
    from astroagent.labtech import labtech_lock, recover
    from astroagent.labtech import rollback_change

    with labtech_lock(data_dir):
        recover(data_dir, workspace)
        return rollback_change(change_id, data_dir=data_dir, workspace=workspace,
                               reason="rolled back from the dashboard")


@_changing
async def rollback(dash: Dashboard, request: Request, form: dict[str, Any]) -> Response:
    change_id = request.path_params["change_id"]
    _known(dash, change_id)
    workspace = _workspace(dash)
    try:
        stored = await run_in_threadpool(_rollback, change_id, dash.settings.data_dir, workspace)
    except AstroAgentError as exc:
        return _back(dash, f"/changes/{change_id}", False, f"not rolled back: {exc}")
    return _back(dash, f"/changes/{change_id}", True, f"rolled back; {stored.get('file')} restored from its backup")


def login(dash: Dashboard) -> Callable[[Request], Awaitable[Response]]:
    """POST /login: the token in a form field buys a SameSite=Strict session cookie."""
    async def run(request: Request) -> Response:
        try:
            check_host(dash.settings, request.headers.get("host"))
            check_origin(request.headers.get("host"), request.headers.get("origin"),
                         request.headers.get("sec-fetch-site"))
        except Refusal as refusal:
            return dash.refusal(request, refusal)
        form = await request.form()
        if not dash.settings.token_ok(str(form.get("token") or "")):
            return RedirectResponse("/login?failed=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, session_value(dash.settings), httponly=True, samesite="strict",
                            path="/")
        return response
    return run


def routes(dash: Dashboard) -> list[Route]:
    if dash.settings.read_only:
        return []
    return [Route("/control/{action}", control(dash), methods=["POST"]),
            Route("/changes/{change_id}/approve", approve(dash), methods=["POST"]),
            Route("/changes/{change_id}/reject", reject(dash), methods=["POST"]),
            Route("/changes/{change_id}/rollback", rollback(dash), methods=["POST"])]
