"""Great Expectations Data Docs that render with no internet.

GX's pages load Bootstrap, jQuery and friends from CDNs. Offline (a server with no
outbound access, a laptop on a train) they render as unstyled text. After GX builds a
site, its pages are rewritten to load Bootstrap and jQuery from ``static/vendor/`` in
the same site (copied from the xstatic packages), and the remaining CDN-only extras
(icons, charts, table filters, a remote logo) are dropped: the pages work without them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

VENDOR = "static/vendor"
# CDN file -> local file name under VENDOR (Bootstrap's bundle includes Popper).
LOCAL_COPIES = {
    "bootstrap.min.css": ("bootstrap", "css/bootstrap.min.css"),
    "bootstrap.bundle.min.js": ("bootstrap", "js/bootstrap.bundle.min.js"),
    "jquery.min.js": ("jquery", "jquery.min.js"),
}
_REMOTE = r"https?://[^\"']+"
_TAGS = re.compile(rf"<link[^>]+href=\"({_REMOTE})\"[^>]*>|<script[^>]+src=\"({_REMOTE})\"[^>]*>\s*</script>")
_REMOTE_LOGO = re.compile(rf"src=\"{_REMOTE}logo-long\.png[^\"]*\"")
_STATIC = re.compile(r"(href|src)=\"(?:\.\./)*static/")  # GX gets the depth of some of these wrong


def _local_for(url: str) -> str | None:
    if "bootstrap" in url and url.endswith("/css/bootstrap.min.css"):
        return "bootstrap.min.css"
    if "bootstrap" in url and url.endswith("/js/bootstrap.min.js"):
        return "bootstrap.bundle.min.js"
    if re.search(r"/jquery-3[\d.]*\.min\.js$", url):
        return "jquery.min.js"
    return None


def _vendor_source(package: str, name: str) -> Path:
    if package == "bootstrap":
        import xstatic.pkg.bootstrap as pkg
    else:
        import xstatic.pkg.jquery as pkg
    return Path(pkg.BASE_DIR) / name


def make_offline(site: Path) -> None:
    """Rewrite every page of the site at ``site`` to use only files inside the site."""
    vendor = site / VENDOR
    vendor.mkdir(parents=True, exist_ok=True)
    for local, (package, name) in LOCAL_COPIES.items():
        shutil.copyfile(_vendor_source(package, name), vendor / local)
    for page in site.rglob("*.html"):
        prefix = "../" * (len(page.relative_to(site).parts) - 1)

        def localise(match: re.Match[str]) -> str:
            url = match.group(1) or match.group(2)
            local = _local_for(url)
            if local is None:
                return ""  # an extra the page works without; offline it would only fail to load
            if local.endswith(".css"):
                return f'<link rel="stylesheet" href="{VENDOR}/{local}"/>'
            return f'<script src="{VENDOR}/{local}"></script>'

        html = page.read_text(encoding="utf-8")
        html = _TAGS.sub(localise, html)
        html = _REMOTE_LOGO.sub('src="static/images/logo-long.png"', html)
        html = _STATIC.sub(lambda m: f'{m.group(1)}="{prefix}static/', html)
        page.write_text(html, encoding="utf-8")


def validation_page(site: Path) -> Path | None:
    """The page with the validation result (``index.html`` only links to it)."""
    return next(iter(sorted(site.glob("validations/**/*.html"))), None)
