"""The rest of the public API: history and single-incident documents, self-serve subscription, status
badges and the embed script. Real requests through the test client, served from the snapshot."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from components.services import set_component_status
from incidents.models import Incident, IncidentUpdate
from incidents.services import create_incident, post_update
from statuspage import badges, publishing
from statuspage.services import SYSTEM, update_page
from subscribers.models import Subscriber
from subscribers.services import subscribe
from tests.statuspage.test_public_api import INCIDENT_KEYS

NOW = datetime(2026, 3, 20, 18, 30, 15, 123000, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
SUBSCRIBE = "/pages/acme/api/v2/subscribers.json"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def acme(page, other_page, make_group, make_component):
    apps = make_group(page, "Application Services")
    api = make_component(page, "API", group=apps)
    dash = make_component(page, "Dashboard", group=apps)
    hidden = make_component(page, "Redis auth cache", is_public=False)
    make_component(other_page, "Globex Billing")
    create_incident(actor=SYSTEM, page=other_page, name="Globex secret outage", body="theirs")
    return page, api, dash, hidden


def publish(*pages):
    for p in pages:
        publishing.publish_page(p.pk)


def get_json(client, path, **headers):
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.content[:200])
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


def assert_json_404(response):
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def closed_incidents(page, n):
    """n resolved incidents, one a day back from yesterday (newest first), written in bulk."""
    incidents = Incident.objects.bulk_create(
        Incident(
            page=page,
            name=f"Old incident {i}",
            status="resolved",
            impact="minor",
            backfilled=True,
            started_at=NOW - timedelta(days=i + 1),
            created_at=NOW - timedelta(days=i + 1),
            updated_at=NOW - timedelta(days=i + 1, hours=-1),
            resolved_at=NOW - timedelta(days=i + 1, hours=-1),
        )
        for i in range(n)
    )
    IncidentUpdate.objects.bulk_create(
        IncidentUpdate(
            incident=incident,
            status="resolved",
            body="Fixed.",
            created_at=incident.resolved_at,
            display_at=incident.resolved_at,
            updated_at=incident.resolved_at,
        )
        for incident in incidents
    )
    return incidents


# --- history.json and incidents/<code>.json ------------------------------------------------------------


@pytest.mark.django_db
def test_history_json_lists_closed_incidents_newest_first_fifty_to_a_page(client, acme):
    page = acme[0]
    old = closed_incidents(page, 51)
    create_incident(actor=SYSTEM, page=page, name="Still open", body="Looking")
    publish(page)

    first = get_json(client, "/pages/acme/api/v2/history.json")
    assert set(first) == {"page", "incidents"}
    assert first["page"]["id"] == page.code and first["page"]["name"] == "Acme"
    assert [i["id"] for i in first["incidents"]] == [i.code for i in old[:50]]
    assert all(set(i) == INCIDENT_KEYS for i in first["incidents"])
    assert first["incidents"][0]["status"] == "resolved"
    assert first["incidents"][0]["incident_updates"][0]["body"] == "Fixed."
    assert "Still open" not in json.dumps(first) and "Globex" not in json.dumps(first)

    assert get_json(client, "/pages/acme/api/v2/history.json?page=1") == first
    second = get_json(client, "/pages/acme/api/v2/history.json?page=2")
    assert [i["id"] for i in second["incidents"]] == [old[50].code]
    assert_json_404(client.get("/pages/acme/api/v2/history.json?page=3"))


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["0", "-1", "abc", "1001", ""])
def test_history_json_with_a_bad_page_number_is_a_json_404(client, acme, number):
    publish(acme[0])
    assert_json_404(client.get(f"/pages/acme/api/v2/history.json?page={number}"))


@pytest.mark.django_db
def test_history_json_of_a_page_without_history_is_an_empty_first_page(client, acme):
    publish(acme[0])
    assert get_json(client, "/pages/acme/api/v2/history.json")["incidents"] == []


@pytest.mark.django_db
def test_incident_json_is_the_incidents_entry_of_incidents_json(client, acme):
    page, api, _, _ = acme
    incident = create_incident(
        actor=SYSTEM, page=page, name="API errors", body="Looking", components={api: "partial_outage"}
    )
    post_update(
        actor=SYSTEM,
        incident=incident,
        status="resolved",
        body="Fixed",
        components={api: "operational"},
        at=NOW + timedelta(minutes=1),
    )
    publish(page)
    listed = get_json(client, "/pages/acme/api/v2/incidents.json")
    doc = get_json(client, f"/pages/acme/api/v2/incidents/{incident.code}.json")
    assert set(doc) == {"page", "incident"}
    assert doc["page"] == listed["page"]
    assert set(doc["incident"]) == INCIDENT_KEYS
    (entry,) = [i for i in listed["incidents"] if i["id"] == incident.code]
    assert doc["incident"] == entry
    assert [u["body"] for u in doc["incident"]["incident_updates"]] == ["Fixed", "Looking"]
    assert doc["incident"]["components"][0]["name"] == "API"


@pytest.mark.django_db
def test_incident_json_of_another_page_or_unknown_code_is_a_json_404(client, acme, other_page):
    theirs = other_page.incidents.get()
    publish(acme[0], other_page)
    assert_json_404(client.get(f"/pages/acme/api/v2/incidents/{theirs.code}.json"))
    assert get_json(client, f"/pages/globex/api/v2/incidents/{theirs.code}.json")["incident"]["id"] == (
        theirs.code
    )
    for name in ("doesnotexist", "UPPER", "a.b", "../../etc/passwd"):
        assert_json_404(client.get(f"/pages/acme/api/v2/incidents/{name}.json"))


@pytest.mark.django_db
def test_lazy_documents_change_with_the_next_publish(client, acme):
    page, api, _, _ = acme
    incident = create_incident(actor=SYSTEM, page=page, name="API errors", body="Looking")
    publish(page)
    path = f"/pages/acme/api/v2/incidents/{incident.code}.json"
    before = client.get(path)
    badge_before = client.get(f"/pages/acme/components/{api.code}/badge.svg")
    post_update(actor=SYSTEM, incident=incident, status="identified", body="Found it")
    set_component_status(actor=SYSTEM, component=api, status="major_outage")
    publish(page)
    after = client.get(path)
    assert after["ETag"] != before["ETag"]
    assert after.json()["incident"]["incident_updates"][0]["body"] == "Found it"
    badge_after = client.get(f"/pages/acme/components/{api.code}/badge.svg")
    assert b"operational" in badge_before.content and b"major outage" in badge_after.content


@pytest.fixture
def extra_paths(acme):
    page, api, _, _ = acme
    incident = create_incident(actor=SYSTEM, page=page, name="API errors", body="Looking")
    publish(page)
    return [
        "/pages/acme/api/v2/history.json",
        f"/pages/acme/api/v2/incidents/{incident.code}.json",
        "/pages/acme/badge.svg",
        "/pages/acme/badge.svg?style=flat-square",
        f"/pages/acme/components/{api.code}/badge.svg",
        "/pages/acme/embed/script.js",
    ]


@pytest.mark.django_db
def test_new_documents_are_open_to_all_origins_and_answer_304_to_their_etag(client, extra_paths):
    for path in extra_paths:
        first = client.get(path)
        assert first.status_code == 200, path
        assert first["Access-Control-Allow-Origin"] == "*", path
        assert first["Cache-Control"].startswith("public"), path
        again = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304, path
        assert again.content == b""
        since = client.get(path, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
        assert since.status_code == 304, path


@pytest.mark.django_db
def test_new_documents_do_no_database_query_once_rendered(client, extra_paths):
    for path in extra_paths:  # the first request renders the lazy document into the version
        assert client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        for path in extra_paths:
            assert client.get(path).status_code == 200, path
    assert len(queries) == 0, [q["sql"] for q in queries]


# --- subscribers.json ----------------------------------------------------------------------------------


def post_json(client, body, path=SUBSCRIBE):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data, content_type="application/json")


@pytest.mark.django_db
def test_api_sign_up_creates_an_unconfirmed_subscriber_and_mails_the_confirmation(acme, smtp, worker):
    page, api, _, _ = acme
    client = Client(enforce_csrf_checks=True)  # an API: no CSRF token, no cookie
    with worker():
        response = post_json(
            client, {"subscriber": {"email": "Ann@Example.com", "component_ids": [api.code]}}
        )
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "no-store"
    sub = Subscriber.objects.get()
    assert response.json() == {
        "subscriber": {
            "id": sub.code,
            "email": "ann@example.com",
            "mode": "email",
            "created_at": "2026-03-20T11:30:15.123-07:00",
        }
    }
    assert (sub.page, sub.email, sub.state, list(sub.components.all())) == (
        page,
        "ann@example.com",
        "unconfirmed",
        [api],
    )
    (mail,) = smtp.to("ann@example.com")
    assert mail["Subject"] == "[Acme] Confirm your subscription"
    assert "/pages/acme/subscriptions/confirm/" in mail.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "send",
    [
        lambda c, code: post_json(c, {"email": "ann@example.com", "component_ids": [code]}),
        lambda c, code: c.post(
            SUBSCRIBE, {"subscriber[email]": "ann@example.com", "subscriber[component_ids][]": [code]}
        ),
        lambda c, code: c.post(SUBSCRIBE, {"email": "ann@example.com", "component_ids": code}),
    ],
    ids=["unwrapped-json", "wrapped-form", "unwrapped-form"],
)
def test_api_sign_up_accepts_form_bodies_and_unwrapped_fields(acme, send):
    api = acme[1]
    response = send(Client(), api.code)
    assert response.status_code == 201, response.content
    sub = Subscriber.objects.get()
    assert (sub.email, list(sub.components.all())) == ("ann@example.com", [api])


@pytest.mark.django_db
def test_api_answer_is_the_same_for_a_new_and_a_known_address(acme, smtp, worker):
    page = acme[0]
    with time_machine.travel(NOW - timedelta(days=30), tick=False):
        known = subscribe(page=page, actor=SYSTEM, email="known@example.com", skip_confirmation=True)
    with worker():
        new_first = post_json(Client(), {"subscriber": {"email": "new@example.com"}})
        new_again = post_json(Client(), {"subscriber": {"email": "new@example.com"}})
        known_response = post_json(Client(), {"subscriber": {"email": "known@example.com"}})
    assert new_first.status_code == new_again.status_code == known_response.status_code == 201
    assert new_first.content == new_again.content
    # Nothing but the address and the id differs: not the time the known address subscribed, nor its state.
    new_body, known_body = new_first.json()["subscriber"], known_response.json()["subscriber"]
    assert known_body["id"] == known.code
    assert {k: v for k, v in known_body.items() if k not in ("id", "email")} == {
        k: v for k, v in new_body.items() if k not in ("id", "email")
    }
    assert Subscriber.objects.filter(email="new@example.com").count() == 1
    assert Subscriber.objects.get(email="known@example.com").state == "active"
    (mail,) = smtp.to("known@example.com")
    assert mail["Subject"] == "[Acme] Your subscription"


@pytest.mark.django_db
def test_api_webhook_sign_up_is_active_at_once(acme, http_receiver):
    response = post_json(
        Client(), {"subscriber": {"endpoint": http_receiver.url, "email": "ops@example.com"}}
    )
    assert response.status_code == 201, response.content
    sub = Subscriber.objects.get()
    assert response.json()["subscriber"] == {
        "id": sub.code,
        "endpoint": http_receiver.url,
        "email": "ops@example.com",
        "mode": "webhook",
        "created_at": "2026-03-20T11:30:15.123-07:00",
    }
    assert (sub.kind, sub.state, sub.endpoint, sub.email) == (
        "webhook",
        "active",
        http_receiver.url,
        "ops@example.com",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"endpoint": "http://10.0.0.1/hook"}, "endpoint"),
        ({"endpoint": "http://169.254.169.254/latest/meta-data"}, "endpoint"),
        ({"endpoint": "ftp://example.com/x"}, "endpoint"),
        ({"email": "not-an-address"}, "email"),
        ({}, "email"),
        ({"endpoint": "https://example.com/hook", "email": "nope"}, "email"),
        ({"email": "a@example.com", "component_ids": ["doesnotexist"]}, "component_ids"),
        ({"email": "a@example.com", "component_ids": "HIDDEN"}, "component_ids"),
        ({"email": "a@example.com", "component_ids": [1, 2]}, "component_ids"),
        ({"email": ["a@example.com"]}, "email"),
        ({"email": "a@example.com", "webhook_format": "carrier-pigeon"}, "webhook_format"),
    ],
)
def test_api_bad_sign_ups_get_400_with_field_errors_and_write_nothing(acme, smtp, worker, fields, field):
    hidden = acme[3]
    if fields.get("component_ids") == "HIDDEN":
        fields["component_ids"] = [hidden.code]  # not public: not a choice
    with worker():
        response = post_json(Client(), {"subscriber": fields})
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert body["errors"][field] and all(isinstance(m, str) for m in body["errors"][field])
    assert body["message"]
    assert Subscriber.objects.count() == 0 and smtp.messages == []


@pytest.mark.django_db
def test_api_sign_up_cannot_choose_components_of_another_page(acme, other_page):
    foreign = other_page.components.get()
    response = post_json(
        Client(), {"subscriber": {"email": "a@example.com", "component_ids": [foreign.code]}}
    )
    assert response.status_code == 400 and "component_ids" in response.json()["errors"]
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", '["a@example.com"]', '"a@example.com"', b"\xff"])
def test_api_malformed_body_is_a_400_not_a_500(acme, body):
    response = post_json(Client(), body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert not Subscriber.objects.exists()


@pytest.mark.django_db
def test_api_sign_ups_share_the_forms_rate_limits(acme, smtp, worker, settings):
    settings.SUBSCRIBE_LIMIT_PER_ADDRESS = 2
    settings.SUBSCRIBE_LIMIT_PER_IP = 4
    with worker():
        for _ in range(2):
            assert post_json(Client(), {"subscriber": {"email": "ann@example.com"}}).status_code == 201
        third = post_json(Client(), {"subscriber": {"email": "ann@example.com"}})
        # The public form draws on the same budget: the fourth sign-up from this network is its last.
        assert (
            Client().post("/pages/acme/subscribe", {"kind": "email", "email": "bob@example.com"}).status_code
            == 200
        )
        fifth = post_json(Client(), {"subscriber": {"email": "cy@example.com"}})
    assert third.status_code == 429
    assert third["Retry-After"] == "3600"
    assert "Too many sign-ups for this address" in third.json()["message"]
    assert fifth.status_code == 429 and "from your network" in fifth.json()["message"]
    assert len(smtp.to("ann@example.com")) == 2
    assert not Subscriber.objects.filter(email="cy@example.com").exists()


@pytest.mark.django_db
def test_api_sign_up_answers_cors_preflight_and_refuses_get(acme):
    preflight = Client().options(SUBSCRIBE, HTTP_ORIGIN="https://example.org")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight["Access-Control-Allow-Headers"]
    response = Client().get(SUBSCRIBE)
    assert response.status_code == 405 and "POST" in response["Allow"]


# --- Badges --------------------------------------------------------------------------------------------


def badge(client, path):
    """(visible texts, background colours, title) of an SVG badge, which must parse as XML."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text") if t.get("aria-hidden") != "true"]
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    return texts, fills, root.find(f"{SVG}title").text


@pytest.mark.django_db
def test_page_badge_says_all_systems_operational_in_green(client, acme):
    publish(acme[0])
    texts, fills, title = badge(client, "/pages/acme/badge.svg")
    assert texts == ["Acme", "All Systems Operational"]
    assert badges.GREEN in fills and badges.RED not in fills
    assert title == "Acme: All Systems Operational"


@pytest.mark.django_db
def test_badges_follow_component_status(client, acme):
    page, api, dash, _ = acme
    set_component_status(actor=SYSTEM, component=api, status="major_outage")
    publish(page)
    texts, fills, _ = badge(client, "/pages/acme/badge.svg")
    assert texts == ["Acme", "Partial System Outage"] and badges.ORANGE in fills
    texts, fills, _ = badge(client, f"/pages/acme/components/{api.code}/badge.svg")
    assert texts == ["API", "major outage"] and badges.RED in fills and badges.GREEN not in fills
    texts, fills, _ = badge(client, f"/pages/acme/components/{dash.code}/badge.svg")
    assert texts == ["Dashboard", "operational"] and badges.GREEN in fills

    set_component_status(actor=SYSTEM, component=dash, status="major_outage")
    publish(page)
    texts, fills, _ = badge(client, "/pages/acme/badge.svg")
    assert texts == ["Acme", "Major System Outage"] and badges.RED in fills


@pytest.mark.django_db
def test_page_badge_follows_the_pages_rollup_rule_for_open_incidents(client, acme):
    page = acme[0]
    create_incident(actor=SYSTEM, page=page, name="Slow logins", body="Looking", impact_override="critical")
    publish(page)
    assert badge(client, "/pages/acme/badge.svg")[0] == ["Acme", "Major System Outage"]
    update_page(actor=SYSTEM, page=page, incidents_raise_indicator=False)
    publish(page)
    assert badge(client, "/pages/acme/badge.svg")[0] == ["Acme", "All Systems Operational"]


@pytest.mark.django_db
def test_badge_escapes_the_page_name(client, acme):
    page = acme[0]
    update_page(actor=SYSTEM, page=page, name="A<&>\"B'")
    publish(page)
    raw = client.get("/pages/acme/badge.svg").content
    assert b"<&>" not in raw and b"&lt;&amp;&gt;" in raw
    texts, _, title = badge(client, "/pages/acme/badge.svg")
    assert texts[0] == "A<&>\"B'"
    assert title == "A<&>\"B': All Systems Operational"


@pytest.mark.django_db
def test_flat_square_badge_is_another_document_of_the_same_text(client, acme):
    publish(acme[0])
    flat = client.get("/pages/acme/badge.svg").content
    square = client.get("/pages/acme/badge.svg?style=flat-square").content
    assert flat != square
    assert b"linearGradient" in flat and b"linearGradient" not in square
    assert badge(client, "/pages/acme/badge.svg?style=flat-square")[0] == ["Acme", "All Systems Operational"]
    assert client.get("/pages/acme/badge.svg?style=unknown").content == flat


@pytest.mark.django_db
def test_component_badge_is_404_for_hidden_foreign_or_unknown_components(client, acme, other_page):
    page, _, _, hidden = acme
    publish(page, other_page)
    foreign = other_page.components.get()
    for code in (hidden.code, foreign.code, "doesnotexist", "NOT-AN-ID"):
        assert client.get(f"/pages/acme/components/{code}/badge.svg").status_code == 404, code
    assert client.get(f"/pages/globex/components/{foreign.code}/badge.svg").status_code == 200


def test_badge_width_grows_with_the_text():
    short = ElementTree.fromstring(badges.render("A", "ok", badges.GREEN))
    long = ElementTree.fromstring(badges.render("A much longer page name", "ok", badges.GREEN))
    assert int(long.get("width")) > int(short.get("width")) + 100


# --- The embed script ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_embed_script_is_javascript_with_the_page_address_inside(client, acme):
    publish(acme[0])
    response = client.get("/pages/acme/embed/script.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Access-Control-Allow-Origin"] == "*"
    source = response.content.decode()
    assert 'var PAGE_URL = "http://testserver/pages/acme/";' in source
    assert "__STATUSPAGE_PAGE_URL__" not in source
    assert 'PAGE_URL + "api/v2/summary.json"' in source


@pytest.mark.django_db
def test_embed_script_on_a_custom_domain_names_that_domain(client, acme):
    page = update_page(actor=SYSTEM, page=acme[0], custom_domain="status.acme.com")
    publish(page)
    source = client.get("/embed/script.js", HTTP_HOST="status.acme.com").content.decode()
    assert page.public_url.endswith("://status.acme.com/")
    assert f"var PAGE_URL = {json.dumps(page.public_url)};" in source


# A few lines of DOM, enough for the embed script to run in Node and show what it would draw.
NODE_HARNESS = r"""
const vm = require("vm");
const script = require("fs").readFileSync(0, "utf8");
const summary = JSON.parse(process.env.SUMMARY);
class El {
  constructor(tag) { this.tagName = tag; this.children = []; this.style = {}; this.attrs = {};
                     this.listeners = {}; this.textContent = ""; this.parentNode = null; }
  appendChild(c) { c.parentNode = this; this.children.push(c); return c; }
  removeChild(c) { this.children = this.children.filter((x) => x !== c); c.parentNode = null; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  addEventListener(type, fn) { this.listeners[type] = fn; }
}
const body = new El("body");
const walk = (n, out = []) => { out.push(n); n.children.forEach((c) => walk(c, out)); return out; };
const store = {};
const requested = [];
const sandbox = {
  document: { readyState: "complete", body, createElement: (t) => new El(t),
              getElementById: (id) => walk(body).find((n) => n.id === id) || null, addEventListener() {} },
  window: null,
};
sandbox.window = {
  fetch: async (url, init) => { requested.push([url, init]);
                                return { ok: true, json: async () => summary }; },
  localStorage: { getItem: (k) => (k in store ? store[k] : null), setItem: (k, v) => { store[k] = v; } },
  setInterval() {},
};
vm.createContext(sandbox);
vm.runInContext(script, sandbox);
setTimeout(() => {
  const box = body.children[0] || null;
  const report = { requested, notice: null };
  if (box) {
    const nodes = walk(box);
    const close = nodes.find((n) => n.tagName === "button");
    report.notice = {
      role: box.attrs.role,
      position: box.style.position,
      texts: nodes.map((n) => n.textContent).filter(Boolean),
      links: nodes.filter((n) => n.tagName === "a").map((n) => n.href),
      closeLabel: close.attrs["aria-label"],
    };
    close.listeners.click();
    report.afterClose = body.children.length;
  }
  console.log(JSON.stringify(report));
}, 50);
"""


def run_embed(source: str, summary: dict) -> dict:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: cannot run the embed script")
    done = subprocess.run(
        ["node", "-e", NODE_HARNESS],
        input=source,
        env={"SUMMARY": json.dumps(summary), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.django_db
def test_embed_script_shows_a_dismissible_notice_only_while_an_incident_is_open(client, acme):
    page = acme[0]
    publish(page)
    source = client.get("/pages/acme/embed/script.js").content.decode()
    green = get_json(client, "/pages/acme/api/v2/summary.json")
    report = run_embed(source, green)
    assert report["requested"] == [
        ["http://testserver/pages/acme/api/v2/summary.json", {"mode": "cors", "credentials": "omit"}]
    ]
    assert report["notice"] is None

    incident = create_incident(actor=SYSTEM, page=page, name="<b>API</b> errors", body="Looking")
    publish(page)
    report = run_embed(source, get_json(client, "/pages/acme/api/v2/summary.json"))
    notice = report["notice"]
    assert notice["role"] == "status" and notice["position"] == "fixed"
    assert "<b>API</b> errors" in notice["texts"] and "Investigating" in notice["texts"]
    assert notice["links"] == [f"http://testserver/pages/acme/incidents/{incident.code}"]
    assert notice["closeLabel"] == "Dismiss status notice"
    assert report["afterClose"] == 0
