"""How the plugin serves what it shows, so nothing a dropper wrote runs in the Airflow origin.

Airflow's UI keeps its login in a cookie that scripts can read, so any script that runs on
the Airflow origin acts as the logged-in user. Every response therefore carries headers
that allow no script at all, and a quarantine entry's files (built from untrusted input)
are served by what they are, never by the name a dropper chose:

- the project's own JSON (``reason.json``, ``gx_result.json``): JSON, shown in the browser;
- Great Expectations Data Docs pages (``data_docs/**.html``): HTML that GX fills with column
  names and values without escaping, so it is served in a CSP sandbox (an opaque origin: no
  cookie, no API, no parent window) with no script source; the pages are self-contained;
- everything else, the dropped original first: a download (``attachment``, a type no
  browser renders) with ``nosniff``.

Imports no Airflow and no web framework: the plugin turns a ``Served`` into a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

# Every response: no scripts, no plugins, no remote loads, framed only by the Airflow UI.
# Inline styles stay allowed: the pages are self-contained (inline CSS, inline SVG plot,
# a data: image) and every value in them is escaped.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
# Data Docs: third-party HTML built from untrusted data. `sandbox` without allow-scripts or
# allow-same-origin gives it an opaque origin. The pages are self-contained (tasks.quality.data_docs):
# inline styles and data: images, nothing to fetch.
DATA_DOCS_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Resource-Policy": "same-origin",
}
DATA_DOCS_FOLDER = "data_docs"
OWN_JSON = frozenset({"reason.json", "gx_result.json"})
# What every plugin response carries (a response may set its own policy instead).
SECURITY_HEADERS = {"Content-Security-Policy": PAGE_POLICY, **COMMON_HEADERS}
DOWNLOAD_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Served:
    """The media type and extra headers one stored file is served with."""

    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def quarantine_file(name: str) -> Served:
    """How the file ``name`` (a path inside a quarantine entry) is served."""
    if name in OWN_JSON:
        return Served("application/json")
    sandboxed = {"Content-Security-Policy": DATA_DOCS_POLICY}
    if name.startswith(DATA_DOCS_FOLDER + "/") and name.lower().endswith(".html"):
        return Served("text/html; charset=utf-8", sandboxed)
    return Served(DOWNLOAD_TYPE, {"Content-Disposition": attachment(name.rsplit("/", 1)[-1]), **sandboxed})


def attachment(file_name: str) -> str:
    """``Content-Disposition`` for a download under the file's own name (RFC 6266): an ASCII
    fallback with nothing that could end the header or the quoted string, and the exact
    name percent-encoded."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in file_name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"
