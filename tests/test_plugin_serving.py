"""The Pipeline plugin serves untrusted files safely: each file of a quarantine entry by what it
is (never by the name a dropper chose), security headers on every response, bad paths 404/400.

The app is the plugin's real FastAPI app over a real local store; only Airflow's login check
is replaced by a fixed user (the browser test covers the real login).
"""

from __future__ import annotations

import pytest
from conftest import csv_bytes, everything, iris_sample

from tasks.stages.ingest import ingest
from tasks.stages.validate import validate_pending
from tasks.ui import serving

pytestmark = pytest.mark.airflow

SCRIPT_HEADER = "<script>self.xssMarker='header'</script>"
HOSTILE_DROPS = {
    "poc.html": b"<html><body><script>self.xssMarker='html'</script></body></html>",
    "poc.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="self.xssMarker=\'svg\'"/>',
    "reason.json": b'{"not": "the reason"}',  # a dropped name that is one of the entry's own files
}


@pytest.fixture
def client(store, monkeypatch):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from tasks.orchestration import ui_plugin

    monkeypatch.setenv("PIPELINE_DATA_URL", str(store.url))
    app = ui_plugin.build_app()
    app.dependency_overrides[get_user] = lambda: {"sub": "admin"}
    return TestClient(app)


@pytest.fixture
def entries(store, config):
    """The hostile drops quarantined by ingest, and a CSV with a script in a header by the gate."""
    for name, content in HOSTILE_DROPS.items():
        store.inbox.add_claimed(name, content)
    store.inbox.add_claimed("header.csv", csv_bytes(iris_sample(30, seed=5).rename(columns={"target": SCRIPT_HEADER})))
    ingest(store)
    validate_pending(store, config)
    return {e["file"]: e for e in store.quarantine.entries()}


def assert_secure_headers(response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "default-src 'none'" in policy and "script-src" not in policy


def test_a_dropped_html_or_svg_file_is_a_download_never_a_page(client, entries):
    for name in ("poc.html", "poc.svg"):
        entry = entries[name]
        response = client.get(f"/quarantine/{entry['id']}/original/{name}")
        assert response.status_code == 200 and response.content == HOSTILE_DROPS[name]
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert_secure_headers(response)


def test_a_dropped_file_named_like_the_entrys_own_files_keeps_both(client, entries):
    entry = entries["reason.json"]
    original = client.get(f"/quarantine/{entry['id']}/original/reason.json")
    assert original.content == HOSTILE_DROPS["reason.json"] and "attachment" in original.headers["content-disposition"]
    reason = client.get(f"/quarantine/{entry['id']}/reason.json")
    assert reason.headers["content-type"] == "application/json" and reason.json()["file"] == "reason.json"


def test_data_docs_are_served_sandboxed_with_no_script_source(client, entries, store):
    entry = entries["header.csv"]
    page = client.get(f"/quarantine/{entry['id']}/{entry['data_docs']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert SCRIPT_HEADER in page.text  # GX writes it unescaped: only the policy keeps it inert
    policy = page.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "allow-scripts" not in policy and "script-src" not in policy
    assert "style-src 'unsafe-inline'" in policy and "'self'" not in policy.split("frame-ancestors")[0]
    assert_secure_headers(page)
    assert "<style>" in page.text and "bootstrap" in page.text.lower()  # styled with nothing to fetch
    assert not [k for k in everything(store) if "/static/" in k]  # no 4 MB of GX static files per entry


def test_every_plugin_response_carries_the_security_headers(client, entries):
    entry = entries["header.csv"]
    for path in ("/", "/api/status", f"/quarantine/{entry['id']}/reason.json", "/reports/v0404", "/quarantine/x/y"):
        assert_secure_headers(client.get(path))


def test_the_pipeline_page_escapes_names_and_links_the_original_as_a_download(client, entries):
    page = client.get("/").text
    assert SCRIPT_HEADER not in page and "&lt;script&gt;" in page  # the reason names the column, escaped
    entry = entries["poc.svg"]
    assert f'href="quarantine/{entry["id"]}/original/poc.svg" download' in page


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/quarantine/{id}/original", 404),  # a folder
        ("/quarantine/{id}/data_docs", 404),  # a folder
        ("/quarantine/{id}/nothing.csv", 404),  # missing
        ("/quarantine/{id}/../../models/champion.json", 404),
        ("/quarantine/{id}/original/poc%00.html", 400),  # a null byte
        ("/quarantine/{id}%00/reason.json", 400),
        ("/quarantine/{id}/%0d%0aSet-Cookie:x", 404),  # a line break: no route matches it
        ("/quarantine/no-such-entry/reason.json", 404),
    ],
)
def test_bad_paths_answer_404_or_400_never_500(client, entries, path, status):
    response = client.get(path.format(id=entries["poc.html"]["id"]))
    assert response.status_code == status, response.text
    assert_secure_headers(response)


@pytest.mark.parametrize(
    ("name", "served_as"),
    [
        ("reason.json", "application/json"),
        ("gx_result.json", "application/json"),
        ("data_docs/validations/x/page.html", "text/html; charset=utf-8"),
        ("data_docs/static/evil.svg", serving.DOWNLOAD_TYPE),
        ("data_docs/x.js", serving.DOWNLOAD_TYPE),
        ("original/page.html", serving.DOWNLOAD_TYPE),
        ("original/data_docs.html", serving.DOWNLOAD_TYPE),
        ("batch/data.parquet", serving.DOWNLOAD_TYPE),
        ("legacy-original.csv", serving.DOWNLOAD_TYPE),
    ],
)
def test_each_file_of_an_entry_is_served_by_what_it_is(name, served_as):
    served = serving.quarantine_file(name)
    assert served.media_type == served_as
    if served_as == serving.DOWNLOAD_TYPE:
        assert served.headers["Content-Disposition"].startswith("attachment;")


def test_a_download_name_cannot_break_out_of_its_header():
    header = serving.attachment('a"b;\\c\r\nSet-Cookie: x=1 é.csv')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="a_b__c__Set-Cookie: x=1 _.csv"; ')
    assert header.endswith("filename*=UTF-8''a%22b%3B%5Cc%0D%0ASet-Cookie%3A%20x%3D1%20%C3%A9.csv")


def test_the_pipeline_page_shows_what_is_live_and_scoring_jobs_with_names_as_text(client, champion):
    from tasks.stages.score import score_pending

    hostile = "<img src=x onerror=alert(1)>.csv"
    store = champion.store
    store.scoring_inbox.put(hostile, csv_bytes(iris_sample(12, seed=8).drop(columns="target")))
    store.scoring_inbox.claim_named(hostile)
    score_pending(store, champion.config)
    store.deployments.record(
        {"version": "v0001", "sha256": "ab", "live_since": "2026-11-25T10:00:00.000+00:00", "previous": None}
    )
    page = client.get("/")
    assert page.status_code == 200
    assert "Live in the scoring server: <b>v0001</b> since 2026-11-25T10:00:00.000+00:00" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page.text and hostile not in page.text
    status = client.get("/api/status").json()
    assert status["live"]["version"] == "v0001" and status["scoring"]["recent"][0]["file"] == hostile
    assert status["scoring"]["recent"][0]["rows"] == 12


def test_the_pipeline_page_lists_recent_alerts_with_their_delivery_as_text(client, store):
    from tasks.alerts.messages import compose

    hostile = "<img src=x onerror=alert(1)>.csv"
    message = compose("quarantine", "warning", "iris", [{"what": f"{hostile} quarantined", "files": [hostile]}])
    message.update(
        id="20261206T000000.000000-quarantine",
        made_at="2026-12-06T00:00:00.000+00:00",
        channels={
            "webhook": {"state": "retrying", "attempts": 2, "last_error": "webhook: HTTP 503: <b>down</b>"},
            "email": {"state": "delivered", "attempts": 1},
        },
    )
    store.alerts.save_message(message)
    page = client.get("/")
    assert page.status_code == 200 and '<h2 id="alerts">Alerts</h2>' in page.text
    assert "webhook: retrying (2 tries: webhook: HTTP 503: &lt;b&gt;down&lt;/b&gt;); email: delivered" in page.text
    assert "<img src=x" not in page.text
    assert client.get("/api/status").json()["alerts"][0]["channels"]["email"]["state"] == "delivered"


def test_the_pipeline_page_shows_what_awaits_approval_and_who_decided(client, store):
    store.approvals.request(
        "v0002",
        {
            "requested_at": "2026-12-06T01:00:00+00:00",
            "metric": "f1_macro",
            "score": 0.95,
            "champion": "v0001",
            "champion_score": 0.93,
            "reason": "champion v0001 could not be loaded (<script>x</script>)",
        },
    )
    store.approvals.request(
        "v0001",
        {
            "requested_at": "t0",
            "metric": "f1_macro",
            "score": 0.93,
            "champion": None,
            "champion_score": None,
            "reason": "first model",
        },
    )
    store.approvals.decide("v0001", {"decision": "approved", "how": "answered", "by": "<b>ann</b>", "at": "t1", "reason": "ok"})
    page = client.get("/")
    assert page.status_code == 200 and '<h2 id="approvals">Approvals</h2>' in page.text
    assert "waiting: v0002 (f1_macro 0.9500 vs champion v0001 0.9300) since 2026-12-06T01:00:00+00:00" in page.text
    assert "pipeline approve v0002" in page.text and 'href="reports/v0002"' in page.text
    assert "v0001 approved by &lt;b&gt;ann&lt;/b&gt; (answered) at t1: ok" in page.text and "<b>ann</b>" not in page.text
    approvals = client.get("/api/status").json()["approvals"]
    assert [e["version"] for e in approvals["waiting"]] == ["v0002"] and approvals["decided"][0]["decision"]["by"] == "<b>ann</b>"


def test_the_drift_pages_draw_each_feature_and_the_score_over_time_with_names_as_text(client, champion):
    """A scored file named with markup whose petals grew, and one like the training rows: the
    Pipeline page lists both; the check's page draws each feature (training beside checked)
    and the PSI over the checks; the alert's page link is the check's page."""
    from tasks.stages.score import score_pending

    store = champion.store
    hostile = "<img src=x onerror=alert(1)>.csv"
    like = iris_sample(150, seed=61).drop(columns="target")
    grown = like.assign(**{c: like[c] + 1.5 for c in ("sepal length (cm)", "petal length (cm)")})
    store.scoring_inbox.add_claimed("like.csv", csv_bytes(like))
    score_pending(store, champion.config)
    store.scoring_inbox.add_claimed(hostile, csv_bytes(grown))
    result = score_pending(store, champion.config)
    (drifted,) = result.drift
    assert result.alerts()[0]["page"] == f"drift/{drifted['id']}"

    index = client.get("/")
    assert index.status_code == 200 and f'href="drift/{drifted["id"]}"' in index.text and 'href="drift"' in index.text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in index.text and hostile not in index.text
    assert [c["source"] for c in client.get("/api/status").json()["drift"]] == [hostile, "like.csv"]

    page = client.get(f"/drift/{drifted['id']}")
    assert page.status_code == 200 and hostile not in page.text
    assert_secure_headers(page)
    assert page.text.count("<svg") == 1 + len(champion.config.dataset.features)  # each feature, and the PSI over time
    assert 'id="feature-petal%20length%20%28cm%29"' in page.text and "drifted" in page.text
    assert "<polyline" in page.text  # two checks: the score over time is drawn
    listing = client.get("/drift")
    assert listing.status_code == 200 and listing.text.count('href="drift/') == 2
    for bad in ("/drift/..%2F..%2Fmodels%2Fchampion", "/drift/20260101T000000.000000-deadbeef", "/drift/x"):
        assert client.get(bad).status_code == 404
