"""The Airflow UI in a real browser: Playwright driving Debian's Chromium against the real
stack (`make run`), after a good drop and a bad one. Each test saves a screenshot under its
temporary folder (pytest prints where) for a person to look at; none is committed.

The browser runs headless with the flags this machine needs (no background networking:
there is no internet, and Chromium's own calls would only fail).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import iris_sample
from e2e_support import DAGS, RunningStack, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHAIN = ["inbox", "ingest", "raw", "preprocess", "features", "train", "model", "evaluate", "metrics"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    with RunningStack(root, str(root / "data")).started() as running:
        running.wait_chain({d: set() for d in DAGS})  # the iris seed, all the way
        before = running.run_ids()
        running.drop("renamed.csv", iris_sample(40, seed=301).rename(columns={"petal width (cm)": "petal_width"}).to_csv(index=False))
        running.drop("team.csv", iris_sample(40, seed=302).to_csv(index=False))
        wait_for("the rename to be quarantined", lambda: any(e["file"] == "renamed.csv" for e in running.store.quarantine.entries()))
        running.wait_chain(before, dags=["train", "evaluate"])
        yield running


@pytest.fixture(scope="module")
def browser(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """A logged-in page that records every HTTP 5xx it sees."""

    def __init__(self, page, stack: RunningStack, shots: Path):
        self.page, self.stack, self.shots = page, stack, shots
        self.server_errors: list[str] = []
        page.on("response", lambda r: r.status >= 500 and self.server_errors.append(f"{r.status} {r.url}"))

    def login(self) -> None:
        self.page.goto(self.stack.api.base_url + "/")
        self.page.get_by_label("Username").fill("admin")
        self.page.get_by_label("Password").fill(self.stack.api.password())
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.stack.api.base_url + "/", timeout=30_000)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def assert_no_errors(self) -> None:
        assert self.server_errors == []
        assert self.page.locator('[data-scope="toast"][data-type="error"]').count() == 0


@pytest.fixture
def visit(browser, stack, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    session = Visit(page, stack, tmp_path)
    session.login()
    yield session
    session.assert_no_errors()
    context.close()


def unfold_newest_extra(page, needle: str, timeout: float = 30) -> str:
    """Unfold the newest event's extra (a folded JSON editor, which renders late) until it
    shows ``needle``; its text with plain spaces."""
    editor = page.locator(".monaco-editor").first

    def unfolded() -> str | None:
        toggle = page.locator(".codicon-folding-collapsed").first
        if toggle.count():
            toggle.click()
        text = " ".join(editor.inner_text().replace("\xa0", " ").split()) if editor.count() else ""
        return text if needle in text else None

    return wait_for(f"an event extra showing {needle!r}", unfolded, timeout=timeout)


def test_login_with_the_generated_password_opens_the_home_page(visit):
    visit.page.get_by_role("link", name="Dags").first.wait_for()
    assert visit.page.locator("text=Sign into Airflow").count() == 0
    visit.shot("home")


def test_the_assets_page_lists_the_assets_and_the_graph_is_the_chain(visit):
    page = visit.page
    page.goto(visit.stack.api.base_url + "/assets")
    for name in ["inbox", "raw", "features", "model", "metrics", "quarantine"]:
        page.get_by_role("link", name=name, exact=True).wait_for()
    visit.shot("assets")
    page.get_by_role("link", name="raw", exact=True).click()
    page.wait_for_selector(".react-flow__edge", state="attached")
    page.wait_for_timeout(500)  # the graph lays itself out
    labels = {n.get_attribute("data-id"): n.inner_text().strip() for n in page.locator(".react-flow__node").all()}
    edges = {}
    for edge in page.locator(".react-flow__edge").all():
        source, _, target = edge.get_attribute("aria-label").removeprefix("Edge from ").partition(" to ")
        edges.setdefault(labels[source], set()).add(labels[target])
    chain, node = ["inbox"], "inbox"
    while node != "metrics":
        (node,) = edges[node] - {"quarantined"}  # the rejection side exit (an alias) aside
        chain.append(node)
    assert chain == CHAIN
    assert "quarantine" in edges["quarantined"]  # and it leads to the quarantine asset
    visit.shot("asset-graph")


def test_an_assets_events_show_their_extras(visit):
    page = visit.page
    raw = visit.stack.api.asset_id("raw")
    newest = visit.stack.api.asset_events(asset_id=raw)[0]["extra"]
    page.goto(visit.stack.api.base_url + f"/assets/{raw}")
    page.get_by_text(re.compile(r"^\d+ Asset Events?$")).first.wait_for()  # "1 Asset Event"
    text = unfold_newest_extra(page, "rows_added")
    assert f'"rows_added": {newest["rows_added"]}' in text
    visit.shot("raw-events")


def test_a_rejected_file_is_an_event_on_the_quarantine_asset(visit):
    page = visit.page
    page.goto(visit.stack.api.base_url + f"/assets/{visit.stack.api.asset_id('quarantine')}")
    page.get_by_text(re.compile(r"^\d+ Asset Events?$")).first.wait_for()  # "1 Asset Event"
    text = unfold_newest_extra(page, "renamed.csv")
    assert '"file": "renamed.csv"' in text and "Fix: rename column 'petal_width'" in text
    visit.shot("quarantine-events")


def _pipeline_frame(visit):
    visit.page.goto(visit.stack.api.base_url + "/assets")
    visit.page.get_by_role("link", name="Pipeline").first.click()
    frame = visit.page.frame_locator("iframe").first
    frame.locator("h1", has_text="Pipeline").wait_for()
    return frame


def test_the_pipeline_page_shows_the_champion_and_opens_its_report(visit):
    frame = _pipeline_frame(visit)
    champion = visit.stack.read_json("models/champion.json")["version"]
    assert champion in frame.locator("#champion").inner_text()
    assert frame.locator("svg").count() >= 1  # the metric plot
    visit.shot("pipeline")
    frame.locator("tr.champion").get_by_role("link", name="report").click()
    frame.locator("h1", has_text=f"Model {champion}").wait_for()
    visit.shot("report")


def test_a_quarantined_files_reason_and_offline_data_docs_are_visible(visit):
    frame = _pipeline_frame(visit)
    row = frame.locator("tr", has_text="renamed.csv")
    assert "missing ['petal width (cm)'], unexpected ['petal_width']" in row.inner_text()
    assert "rename column 'petal_width' to 'petal width (cm)'" in row.inner_text()
    styles = []
    visit.page.on("response", lambda r: r.url.endswith("bootstrap.min.css") and styles.append(r.status))
    row.get_by_role("link", name="Data Docs").click()
    frame.locator("text=Expectation Validation Result").first.wait_for()
    visit.page.wait_for_timeout(500)
    assert styles == [200]  # Bootstrap came from the quarantine folder, not a CDN
    visit.shot("data-docs")


def test_logged_out_the_plugins_pages_and_api_are_refused(browser, stack, tmp_path):
    context = browser.new_context()
    page = context.new_page()
    for path in ("/pipeline/", "/pipeline/api/status", "/pipeline/reports/v0001"):
        assert page.goto(stack.api.base_url + path).status == 401, path
    page.screenshot(path=str(tmp_path / "logged-out.png"))
    context.close()
    forged = urllib.request.Request(stack.api.base_url + "/pipeline/api/status", headers={"Authorization": "Bearer not-a-token"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403
    status = stack.api.get("/pipeline/api/status")  # the same API with a real token
    assert status["champion"]["version"] == stack.read_json("models/champion.json")["version"]
    assert json.dumps(status["quarantine"]).count("renamed.csv") == 1
