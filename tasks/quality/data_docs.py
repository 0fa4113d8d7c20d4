"""Great Expectations Data Docs as self-contained pages: no internet, no other file, no script.

GX's pages load Bootstrap, jQuery and friends from CDNs, and a favicon and a logo from the
site's ``static/`` folder (4 MB of fonts and animated GIFs, copied into every site).
Offline they render as unstyled text. After GX builds a site, each page gets Bootstrap's
stylesheet inline (from the xstatic package) and the logo as a data URI; every remote
script and CDN-only extra is dropped, and so is ``static/``.

Self-contained because the pages are served sandboxed (``tasks.ui.serving``): they hold
untrusted values, so they get an opaque origin, and a request from an opaque origin
carries no login cookie: a stylesheet beside the page could not load. They read fine with
no script: the validation result is plain HTML.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

_REMOTE = r"https?://[^\"']+"
_REMOTE_TAGS = re.compile(rf"<link[^>]+href=\"{_REMOTE}\"[^>]*>|<script[^>]+src=\"{_REMOTE}\"[^>]*>\s*</script>")
_STATIC_LINKS = re.compile(r"<link[^>]+href=\"(?:\.{1,2}/)*static/[^\"]*\"[^>]*>")  # favicon, local stylesheets
_LOGO = re.compile(rf"src=\"(?:{_REMOTE}|(?:\.{{1,2}}/)*static/images/)logo-long\.png[^\"]*\"")
_HEAD_END = re.compile(r"</head>", re.IGNORECASE)


def _bootstrap_css() -> str:
    import xstatic.pkg.bootstrap as pkg

    return (Path(pkg.BASE_DIR) / "css" / "bootstrap.min.css").read_text(encoding="utf-8")


def make_offline(site: Path) -> None:
    """Make every page of the site at ``site`` self-contained, then drop ``static/``."""
    style = f"<style>{_bootstrap_css()}</style>"
    logo_file = site / "static" / "images" / "logo-long.png"
    logo = f'src="data:image/png;base64,{base64.b64encode(logo_file.read_bytes()).decode()}"' if logo_file.exists() else 'src=""'
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        html = _REMOTE_TAGS.sub("", html)
        html = _STATIC_LINKS.sub("", html)
        html = _LOGO.sub(logo, html)
        html = _HEAD_END.sub(lambda _: f"{style}</head>", html, count=1)
        page.write_text(html, encoding="utf-8")
    shutil.rmtree(site / "static", ignore_errors=True)


def validation_page(site: Path) -> Path | None:
    """The page with the validation result (``index.html`` only links to it)."""
    return next(iter(sorted(site.glob("validations/**/*.html"))), None)
