"""The "Pipeline" entry of the Airflow UI: an Airflow plugin serving the pipeline's models,
reports, quarantine and inbox from the store (any backend), inside the Airflow UI; and a
listener that writes a note on every DAG run that rejected input.

Plugin endpoints are not protected by Airflow: every route here depends on Airflow's own
``get_user`` (the core API's check: a bearer JWT, or the UI's ``_token`` cookie), so a
request without a valid login gets 401 (none) or 403 (invalid). Registered through the
``airflow.plugins`` entry point in ``pyproject.toml``. Every Airflow process loads plugins
(task processes too, for listeners), so this module imports nothing heavy: the FastAPI app
is built when the api-server first asks for it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from tasks.orchestration import run_notes

URL_PREFIX = "/pipeline"
RECENT_DRIFT_CHECKS = 30  # what the drift page lists and draws over time


def _store():
    from tasks.store import open_store

    return open_store()


def build_app():  # -> fastapi.FastAPI
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from tasks.store.backend import StorageUnavailable
    from tasks.ui import serving

    app = FastAPI(title="Pipeline", dependencies=[Depends(get_user)], docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request, call_next):  # every response, errors and 401s included
        try:
            response = await call_next(request)
        except StorageUnavailable as exc:  # storage down: say so (503), never a 500 with a traceback
            from tasks.ui.pages import storage_unreachable_page

            message = str(exc)
            if request.url.path.rstrip("/").endswith("/api/status"):
                response = JSONResponse({"error": message}, status_code=503)
            else:
                response = HTMLResponse(storage_unreachable_page(message), status_code=503)
        for header, value in serving.SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        from tasks.ui.overview import overview
        from tasks.ui.pages import index_page

        return index_page(overview(_store()))

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        from tasks.ui.overview import overview

        return overview(_store())

    @app.get("/reports/{version}", response_class=HTMLResponse)
    def report(version: str) -> Response:
        store = _store()
        if version not in store.registry.versions():
            raise HTTPException(404, f"no model version {version!r}")
        try:
            return HTMLResponse(store.reports.file(version, "report.html"))
        except FileNotFoundError:
            raise HTTPException(404, f"{version} has no report yet (not evaluated)") from None

    @app.get("/drift", response_class=HTMLResponse)
    def drift() -> str:
        from tasks.ui.drift import drift_page

        return drift_page(_store().drift.recent(RECENT_DRIFT_CHECKS))

    @app.get("/drift/{check_id}", response_class=HTMLResponse)
    def drift_check(check_id: str) -> str:
        from tasks.ui.drift import CHECK_ID, check_page

        store = _store()
        check = store.drift.check(check_id) if CHECK_ID.match(check_id) else None
        if check is None:
            raise HTTPException(404, f"no drift check {check_id!r}")
        return check_page(check, store.drift.recent(RECENT_DRIFT_CHECKS))

    @app.get("/quarantine/{quarantine_id}/{name:path}")
    def quarantine_file(quarantine_id: str, name: str) -> Response:
        """A file of a quarantine entry: ``reason.json``, the original, its Data Docs pages,
        each served as what it is (``tasks.ui.serving``), never as the name says."""
        try:
            data = _store().quarantine.file(quarantine_id, name)
        except FileNotFoundError:
            raise HTTPException(404, f"no file {name!r} in quarantine entry {quarantine_id!r}") from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        served = serving.quarantine_file(name)
        return Response(data, media_type=served.media_type, headers=served.headers)

    return app


class _AppOnFirstUse:
    """``fastapi_apps``, built when read (only the api-server reads it)."""

    def __init__(self) -> None:
        self.apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: Any, owner: Any) -> list[dict[str, Any]]:
        if self.apps is None:
            self.apps = [{"app": build_app(), "url_prefix": URL_PREFIX, "name": "Pipeline: models, reports, quarantine, inbox"}]
        return self.apps


class PipelinePlugin(AirflowPlugin):
    name = "pipeline"
    fastapi_apps = _AppOnFirstUse()
    # Relative href (no leading slash): it works when Airflow sits under a proxy's sub-path.
    external_views = [
        {"name": "Pipeline", "href": "pipeline/", "url_route": "pipeline", "destination": "nav", "nav_top_level": True}
    ]
    listeners = [run_notes]
