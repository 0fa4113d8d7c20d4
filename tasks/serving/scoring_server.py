"""The online scoring server: the champion behind MLflow's scoring-server protocol.

``pipeline serve`` (started and supervised by ``pipeline run``, on ``PIPELINE_SERVE_PORT``,
127.0.0.1 only). Existing MLflow clients work unchanged:

- ``POST /invocations`` with ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``,
  ``{"dataframe_records": [{...}]}`` or ``Content-Type: text/csv``; answers
  ``{"predictions": [{"prediction": <class as in the data>, "probability": p}, ...]}`` (a number
  target: ``{"prediction": <number>}``);
- ``GET /ping`` and ``GET /health``: 200 once a model is live, 503 before;
- ``GET /version``: which model version is live, its sha256, since when, the one before.

Every response names the model version that answered (header ``X-Model-Version``).
Unscorable input (a missing column, text in a numeric column, an unknown format) is a 400
with the reason, never a 500.

Drift: each answered request's rows and predictions join a window (``request_window``); a
window of ``[monitoring] window_rows`` rows, or one open ``window_s`` seconds, is checked
against the reference of the version that answered, off the request path, and kept in the
store with ``source: "server"`` for the score DAG to post as a ``drift`` event.

Hot swap: ``POST /reload`` makes the registry's champion live (the deploy stage calls it).
The new model is loaded (sha256 checked) beside the one serving, in a thread, and then one
reference is switched; a request reads that reference once, so it is answered wholly by
one model, and none fails during a swap. If the load fails, the old model keeps serving.
Imports no Airflow.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

from tasks.config import Dataset, Monitoring
from tasks.ml.scoring import LoadedModel, as_numbers, load_version, predicted, request_problem
from tasks.serving.request_window import ClosedWindow, RequestWindow
from tasks.store import Store

VERSION_HEADER = "X-Model-Version"
RETRY_S = 10.0  # while no model is live, how often the server looks for a champion itself
WINDOW_TICK_S = 1.0  # how often the checker looks for a window to check
SERVER_SOURCE = "server"  # a server window's drift check names this as its source
NO_MODEL = "none"
JSON_FORMATS = ("dataframe_split", "dataframe_records")
log = logging.getLogger("pipeline.serve")


class BadRequest(ValueError):
    """Input the server cannot score; the message is the 400's reason."""


@dataclass(frozen=True)
class Live:
    """What serves now: the model and when it went live, and the version before it."""

    model: LoadedModel
    live_since: str
    previous: str | None


def read_rows(body: bytes, content_type: str) -> pd.DataFrame:
    """The request body as rows, in one of the formats MLflow's server takes."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        try:
            return pd.read_csv(io.BytesIO(body))
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not a readable CSV: {exc}") from None
    if kind not in ("application/json", ""):
        raise BadRequest(f"unsupported Content-Type {kind!r}: send application/json or text/csv")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or not any(k in payload for k in JSON_FORMATS):
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise BadRequest(f"expected a JSON object with one of {list(JSON_FORMATS)}, got {keys}")
    try:
        if "dataframe_records" in payload:
            records = payload["dataframe_records"]
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise BadRequest("'dataframe_records' must be a list of objects (column: value)")
            return pd.DataFrame.from_records(records)
        split = payload["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise BadRequest("'dataframe_split' must be an object with 'columns' and 'data' (a list of rows)")
        return pd.DataFrame(split["data"], columns=split.get("columns"))
    except (ValueError, TypeError) as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"the rows do not form a table: {exc}") from None


class ScoringServer:
    """The live model and the swap; ``app`` is the HTTP face."""

    def __init__(self, store: Store, dataset: Dataset, monitoring: Monitoring | None = None):
        self.store, self.dataset = store, dataset
        self.monitoring = monitoring or Monitoring()
        self.live: Live | None = None  # replaced in one assignment: the swap
        self._swap = asyncio.Lock()
        self.window = RequestWindow(self.monitoring.window_rows, self.monitoring.window_s)
        self._references: dict[str, dict[str, Any] | None] = {}  # version -> its training reference

    def version(self) -> dict[str, Any]:
        live = self.live
        if live is None:
            return {"model_version": None, "data_set": self.dataset.name}
        return {
            "model_version": live.model.version,
            "sha256": live.model.sha256,
            "live_since": live.live_since,
            "previous": live.previous,
            "data_set": self.dataset.name,
        }

    async def reload(self) -> dict[str, Any]:
        """Make the registry's champion live, if it is not already; one load at a time."""
        async with self._swap:
            champion = await asyncio.to_thread(self.store.registry.champion)
            current = self.live
            if champion is None or (current is not None and current.model.version == champion["version"]):
                return self.version()
            # The version just read, not a second read of the pointer: what is checked is what loads.
            loaded = await asyncio.to_thread(load_version, self.store, champion["version"], single_threaded=True)
            previous = current.model.version if current else None
            self.live = Live(loaded, datetime.now(UTC).isoformat(timespec="milliseconds"), previous)
            log.info("Model %s is live (was %s)", loaded.version, previous or "none")
            return self.version()

    async def _until_a_model_is_live(self) -> None:
        """Every ``RETRY_S`` while nothing is live (no champion yet, storage down at start, a bad
        file): load the champion. Once one is live, only ``/reload`` swaps."""
        while self.live is None:
            await asyncio.sleep(RETRY_S)
            await self._try_to_load()

    async def _try_to_load(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # storage down, a bad file: answer 503 meanwhile, try again later
            log.error("No model loaded yet (trying again every %.0f s): %s: %s", RETRY_S, type(exc).__name__, exc)

    def score(self, body: bytes, content_type: str) -> tuple[str, bytes]:
        """The answering version and the response body; raises ``BadRequest``."""
        live = self.live  # read once: this request is answered by this model only
        if live is None:
            raise LookupError("no model is live yet: the first champion goes live once the pipeline has trained one")
        frame = read_rows(body, content_type)
        if problem := request_problem(frame, self.dataset):
            raise BadRequest(problem)
        numbers = as_numbers(frame, self.dataset)
        try:
            values, probability = predicted(live.model.model, numbers, self.dataset)
        except (ValueError, TypeError) as exc:  # values no check above foresaw: still the input's fault
            raise BadRequest(f"the rows cannot be scored: {exc}") from None
        self.window.add(live.model.version, numbers, values)
        if probability is None:  # a number target
            rows = [{"prediction": v} for v in values.tolist()]
        else:
            rows = [
                {"prediction": c, "probability": round(p, 4)} for c, p in zip(values.tolist(), probability.tolist(), strict=True)
            ]
        return live.model.version, json.dumps({"predictions": rows}).encode()

    async def check_windows(self, *, everything: bool = False) -> list[dict[str, Any]]:
        """Check the windows that closed (all of them, with ``everything``) and keep each check;
        a window that cannot be kept now (storage down) is tried again on the next pass."""
        windows = self.window.take(everything=everything)
        kept = []
        for i, window in enumerate(windows):
            try:
                if (check := await asyncio.to_thread(self._check_window, window)) is not None:
                    kept.append(check)
            except Exception as exc:  # storage down: keep the windows, never fail a request for it
                log.error("Drift check of %d request(s) waits: %s: %s", window.requests, type(exc).__name__, exc)
                self.window.put_back(windows[i:])
                break
        return kept

    def _check_window(self, window: ClosedWindow) -> dict[str, Any] | None:
        from tasks.ml.drift import check, summary_line

        if window.version not in self._references:
            self._references[window.version] = self.store.registry.reference(window.version)
        reference = self._references[window.version]
        if reference is None:  # trained before references existed
            log.info("No drift check of %d request(s): %s has no training reference", window.requests, window.version)
            return None
        rows, predictions = window.rows()
        found = check(reference, rows, self.monitoring, predictions=predictions)
        record = self.store.drift.record(
            {
                "source": SERVER_SOURCE,
                "source_kind": "scoring server window",
                "model_version": window.version,
                "window": {"opened_at": window.opened_at, "closed_at": window.closed_at, "requests": window.requests},
                **found,
            },
            announce=True,
        )
        log.info("Drift check of %d served rows (%s): %s", len(rows), record["id"], summary_line(record))
        return record

    async def _check_windows_forever(self) -> None:
        while True:
            await asyncio.sleep(WINDOW_TICK_S)
            await self.check_windows()

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def load_at_start(_app: FastAPI) -> AsyncIterator[None]:
            await self._try_to_load()  # the champion, before the first request is taken
            waiting = asyncio.create_task(self._until_a_model_is_live())
            checking = asyncio.create_task(self._check_windows_forever())
            yield
            waiting.cancel()
            checking.cancel()
            await self.check_windows(everything=True)  # what was served before the stop is checked too

        app = FastAPI(title="pipeline scoring server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=load_at_start)

        def answer(status: int, body: dict[str, Any] | bytes, version: str | None = None) -> Response:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            version = version or (self.live.model.version if self.live else NO_MODEL)
            return Response(content, status_code=status, media_type="application/json", headers={VERSION_HEADER: version})

        @app.exception_handler(HTTPException)
        async def http_error(_request: Request, exc: HTTPException) -> Response:
            return answer(
                exc.status_code, {"error_code": "BAD_REQUEST" if exc.status_code < 500 else "ERROR", "message": exc.detail}
            )

        @app.post("/invocations")
        async def invocations(request: Request) -> Response:
            body = await request.body()
            try:
                version, content = self.score(body, request.headers.get("content-type", ""))
            except BadRequest as exc:
                return answer(400, {"error_code": "BAD_REQUEST", "message": str(exc)})
            except LookupError as exc:
                return answer(503, {"error_code": "NO_MODEL", "message": str(exc)})
            return answer(200, content, version)

        @app.get("/ping")
        @app.get("/health")
        async def ping() -> Response:
            if self.live is None:
                return answer(503, {"error_code": "NO_MODEL", "message": "no model is live yet"})
            return Response("\n", media_type="text/plain", headers={VERSION_HEADER: self.live.model.version})

        @app.get("/version")
        async def version() -> Response:
            return answer(200, self.version())

        @app.post("/reload")
        async def reload() -> Response:
            try:
                return answer(200, await self.reload())
            except Exception as exc:  # the old model keeps serving; say why the new one did not load
                from tasks.store.backend import StorageUnavailable

                reason = str(exc) if isinstance(exc, StorageUnavailable) else f"{type(exc).__name__}: {exc}"
                log.error("Reload failed, %s keeps serving: %s", self.version()["model_version"], reason)
                return answer(500, {"error_code": "LOAD_FAILED", "message": reason, **self.version()})

        return app


def serve(store: Store, dataset: Dataset, port: int, monitoring: Monitoring | None = None, host: str = "127.0.0.1") -> None:
    """Run the server in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(ScoringServer(store, dataset, monitoring).app(), host=host, port=port, log_level="warning", access_log=False)
