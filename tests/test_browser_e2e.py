"""The Airflow UI in a real browser: Playwright driving Debian's Chromium against the real
stack (`make run`), after a good drop and a bad one. Each test saves a screenshot under its
temporary folder (pytest prints where) for a person to look at; none is committed.

The browser runs headless with the flags this machine needs (no background networking:
there is no internet, and Chromium's own calls would only fail).
"""

from __future__ import annotations

import http.server
import re
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import iris_sample
from harness import DAGS, LaunchedStack, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAIN = [
    *("inbox", "ingest", "raw", "preprocess", "features", "train", "model", "evaluate", "metrics"),
    *("deploy", "deployment"),
]


class Beacon:
    """A tiny HTTP server on 127.0.0.1 that records every request: the payloads point their
    remote loads (an image in a note, in a value) here, so a load that got through shows."""

    def __init__(self):
        hits = self.hits = []

        class Record(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hostile_drops(beacon: str) -> dict[str, str]:
    """What an attacker who can write the inbox drops: each payload, if it ever runs, sets
    ``xssMarker`` on its own window and on the top one, and calls alert()."""

    def run(tag: str) -> str:
        return f"self.xssMarker='{tag}';try{{top.xssMarker='{tag}'}}catch(e){{}};alert('{tag}')"

    header = iris_sample(20, seed=311).rename(columns={"target": f"<script>{run('header')}</script>"})
    header[f"![beacon]({beacon}/note-image.png)"] = 1  # a Markdown image in a column name (run notes)
    value = iris_sample(20, seed=312).astype({"target": object})
    value.loc[[0, 1], "target"] = f'<img src="{beacon}/value.png" onerror="{run("value")}">'
    return {
        "xss-header.csv": header.to_csv(index=False),
        "xss-value.csv": value.to_csv(index=False),
        "poc.html": f"<html><body><h1>poc</h1><script>{run('html')}</script></body></html>",
        "poc.svg": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{run("svg")}"><script>{run("svg-script")}</script></svg>',
        f'[link](javascript:{run("link")})<img src=x onerror="{run("name")}">.csv': "not,a\ncsv file",
    }


@pytest.fixture(scope="module")
def beacon():
    server = Beacon()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, beacon):
    root = tmp_path_factory.mktemp("browser")
    with LaunchedStack(root, str(root / "data")).started() as running:
        running.wait_chain({d: set() for d in DAGS})  # the iris seed, all the way
        hostile = hostile_drops(beacon.url)
        for name, content in hostile.items():
            running.drop(name, content)
        wait_for(
            "every hostile drop to be quarantined",
            lambda: {e["file"] for e in running.store.quarantine.entries()} >= set(hostile),
        )
        before = running.run_ids()
        running.drop(
            "renamed.csv", iris_sample(40, seed=301).rename(columns={"petal width (cm)": "petal_width"}).to_csv(index=False)
        )
        running.drop("team.csv", iris_sample(40, seed=302).to_csv(index=False))
        wait_for(
            "the rename to be quarantined", lambda: any(e["file"] == "renamed.csv" for e in running.store.quarantine.entries())
        )
        running.wait_chain(before, dags=["train", "evaluate", "deploy"])
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

    def __init__(self, page, stack: LaunchedStack, shots: Path):
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
    while node != "deployment":
        (node,) = edges[node] - {"quarantined", "drifted"}  # the side exits (aliases: rejections, drift checks) aside
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


def assert_styled_by_bootstrap(frame) -> None:
    """Bootstrap's reboot sets the body's margin to 0 (a browser's default is 8 px)."""
    wait_for(
        "the Data Docs page to be styled",
        lambda: frame.locator("body").evaluate("b => getComputedStyle(b).marginTop") == "0px",
        timeout=15,
    )


def test_a_quarantined_files_reason_and_offline_data_docs_are_visible(visit):
    frame = _pipeline_frame(visit)
    row = frame.locator("tr", has_text="renamed.csv")
    assert "missing ['petal width (cm)'], unexpected ['petal_width']" in row.inner_text()
    assert "rename column 'petal_width' to 'petal width (cm)'" in row.inner_text()
    row.get_by_role("link", name="Data Docs").click()
    frame.locator("text=Expectation Validation Result").first.wait_for()
    assert_styled_by_bootstrap(frame)  # inline, with no CDN, in its sandbox
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
    assert [e["file"] for e in status["quarantine"]].count("renamed.csv") == 1


# --- Nothing a dropper wrote runs: the hostile drops, opened everywhere a person would open them.


def markers(page) -> dict[str, str]:
    """``xssMarker`` in every frame of the page (sandboxed ones included): set only by a payload that ran."""
    found = {}
    for frame in page.frames:
        try:
            value = frame.evaluate("() => self.xssMarker || null")
        except Exception:  # a frame navigating away or gone: it is checked at the next look
            continue
        if value:
            found[frame.url] = value
    return found


@pytest.fixture
def guarded(visit, beacon):
    """A logged-in visit that records every dialog; afterwards asserts that no payload ran
    (no marker, no dialog) and no payload loaded anything from outside (no beacon hit)."""
    dialogs = []
    visit.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    beacon.hits.clear()
    yield visit
    assert markers(visit.page) == {}
    assert dialogs == [] and beacon.hits == []


def hostile_entries(stack, beacon) -> list[dict]:
    names = set(hostile_drops(beacon.url))
    entries = [e for e in stack.api.get("/pipeline/api/status")["quarantine"] if e["file"] in names]
    assert {e["file"] for e in entries} == names
    return entries


def look(visit, url: str) -> None:
    """Open ``url`` in the top window, let it settle, and check no payload ran."""
    visit.page.goto(url)
    visit.page.wait_for_load_state("load")
    visit.page.wait_for_timeout(300)
    assert markers(visit.page) == {}, url


def test_hostile_drops_run_nothing_when_opened_directly(guarded, stack, beacon):
    base = stack.api.base_url + "/pipeline/"
    look(guarded, base)
    page_text = guarded.page.locator("body").inner_text()
    assert "<script>self.xssMarker='header'" in page_text  # shown, as text
    for entry in hostile_entries(stack, beacon):
        look(guarded, base)
        row = guarded.page.locator("tr", has=guarded.page.get_by_text(entry["quarantined_at"], exact=True))
        with guarded.page.expect_download() as download:  # the original is a download, never a page
            row.get_by_role("link", name="original").click()
        assert download.value.suggested_filename
        look(guarded, base + f"quarantine/{entry['id']}/reason.json")
        if entry.get("data_docs"):
            look(guarded, base + f"quarantine/{entry['id']}/{entry['data_docs']}")
            assert guarded.page.locator("text=Expectation Validation Result").count() >= 1
    champion = stack.read_json("models/champion.json")["version"]
    look(guarded, base + f"reports/{champion}")
    guarded.shot("hostile-direct")


def test_hostile_drops_run_nothing_inside_the_airflow_ui(guarded, stack, beacon):
    frame = _pipeline_frame(guarded)
    for entry in hostile_entries(stack, beacon):
        row = frame.locator("tr", has=frame.get_by_text(entry["quarantined_at"], exact=True))
        with guarded.page.expect_download():
            row.get_by_role("link", name="original").click()
        if entry.get("data_docs"):
            row.get_by_role("link", name="Data Docs").click()
            frame.locator("text=Expectation Validation Result").first.wait_for()
            assert_styled_by_bootstrap(frame)
            assert markers(guarded.page) == {}
            if entry["file"] == "xss-header.csv":
                guarded.shot("hostile-data-docs-in-the-ui")  # still styled: Bootstrap loads
            frame = _pipeline_frame(guarded)
            row = frame.locator("tr", has=frame.get_by_text(entry["quarantined_at"], exact=True))
        row.get_by_role("link", name="reason.json").click()
        frame.locator("body").wait_for()
        guarded.page.wait_for_timeout(300)
        assert markers(guarded.page) == {}
        frame = _pipeline_frame(guarded)


def test_hostile_names_and_values_stay_text_in_events_and_run_notes(guarded, stack, beacon):
    page = guarded.page
    names = set(hostile_drops(beacon.url))
    page.goto(stack.api.base_url + f"/assets/{stack.api.asset_id('quarantine')}")
    page.get_by_text(re.compile(r"^\d+ Asset Events?$")).first.wait_for()
    page.wait_for_timeout(500)
    assert markers(page) == {}
    noted = []
    for dag_id in ("ingest", "preprocess"):
        for run in stack.api.dag_runs(dag_id):
            if any(name in (run.get("note") or "") for name in names):
                noted.append((dag_id, run))
    assert noted, "the runs that rejected the hostile drops carry notes"
    for dag_id, run in noted:
        assert run["note"].count("```") >= 2  # the data part is one fenced code block
        page.goto(stack.api.base_url + f"/dags/{dag_id}/runs/{run['dag_run_id']}")
        page.get_by_text("Rejected", exact=False).first.wait_for()
        page.get_by_role("button", name="Edit note").first.click()  # the whole note, its Markdown rendered
        dialog = page.get_by_role("dialog")
        listed = dialog.locator("code", has_text=re.compile(r"\[(ingest|validation)\]")).first
        listed.wait_for()
        assert [n for n in names if n in run["note"]][0].split("<")[0] in listed.inner_text()  # shown as text
        page.wait_for_timeout(300)
        assert dialog.locator("a").count() == 0 and page.locator("a[href^='javascript']").count() == 0
        assert page.locator(f"img[src^='{beacon.url}']").count() == 0
        assert markers(page) == {}
    guarded.shot("hostile-run-note")


def test_plugin_responses_carry_the_security_headers(visit, stack, beacon):
    request = visit.page.context.request
    base = stack.api.base_url + "/pipeline/"
    champion = stack.read_json("models/champion.json")["version"]
    urls = [base, base + "api/status", base + f"reports/{champion}"]
    for entry in hostile_entries(stack, beacon):
        urls += [base + f"quarantine/{entry['id']}/reason.json", base + f"quarantine/{entry['id']}/{entry['original']}"]
        if entry.get("data_docs"):
            urls.append(base + f"quarantine/{entry['id']}/{entry['data_docs']}")
    for url in urls:
        response = request.get(url)
        assert response.status == 200, url
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
        assert (
            "frame-ancestors 'self'" in headers["content-security-policy"]
            and "script-src" not in headers["content-security-policy"]
        )
        if "/original/" in url:
            assert (
                headers["content-disposition"].startswith("attachment;") and headers["content-type"] == "application/octet-stream"
            )
        if "/data_docs/" in url:
            assert headers["content-security-policy"].startswith("sandbox;")
    for path, status in (("quarantine/x/original", 404), ("quarantine/x/a%00b", 400)):
        assert request.get(base + path).status == status
