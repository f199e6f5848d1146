"""Every stored text field, filled with every payload of the corpus, comes out inert in every output.

One page holds the whole corpus at once (a group, a component, an incident with an update, a maintenance
and an incident template per payload, and a postmortem of all of them), so each output is rendered once and
checked for every payload together. Plain-text fields must also come back literally (escaped, not dropped,
not evaluated); Markdown fields must come back inert. The page's own name and headline, one field each,
are checked per payload.
"""

from __future__ import annotations

import email
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from xml.etree import ElementTree

import icalendar
import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from markdown_it import MarkdownIt

from components.services import create_component, create_group
from incidents.models import Incident
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    render_template_text,
    save_postmortem,
    save_template,
    schedule_maintenance,
)
from statuspage import publishing
from statuspage.models import Page
from statuspage.security_headers import CONTENT_SECURITY_POLICY
from statuspage.services import SYSTEM, Actor, add_member, create_api_key, create_page
from subscribers.content import EventContent
from subscribers.models import Delivery, OutboxEvent, Subscriber
from tests.security import xss_corpus
from tests.security.inert import assert_inert, check_html
from tests.security.xss_corpus import chunks

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=UTC)
PAYLOADS = xss_corpus.ALL
PLAIN_HTML_PAYLOADS = xss_corpus.SCRIPT + xss_corpus.EVENT_HANDLERS + xss_corpus.URLS + xss_corpus.SVG_MATH
PLAIN_HTML_PAYLOADS += xss_corpus.CSS + xss_corpus.EMBEDDING + xss_corpus.BROKEN


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@dataclass
class World:
    page: Page
    owner: User
    groups: list = field(default_factory=list)
    components: list = field(default_factory=list)
    incidents: list = field(default_factory=list)
    maintenances: list = field(default_factory=list)
    templates: list = field(default_factory=list)

    def __getitem__(self, name):
        return getattr(self, name)


@pytest.fixture(scope="module")
def _world(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end: each test runs in a savepoint
    inside it (pytest-django's own per-test atomic), so tests still cannot see each other's writes."""
    with django_db_blocker.unblock(), time_machine.travel(NOW, tick=False), transaction.atomic():
        page = create_page(
            actor=SYSTEM,
            name=xss_corpus.SCRIPT[0],
            headline=xss_corpus.EVENT_HANDLERS[0],
            slug="xss-acme",
            time_zone="America/Los_Angeles",
        )
        other = create_page(actor=SYSTEM, name="Globex", slug="xss-globex", time_zone="Europe/Paris")
        owner = User.objects.create_user("xss-owner", "owner@example.com", "correct horse battery")
        add_member(actor=SYSTEM, page=page, user=owner, role="owner")
        commander = User.objects.create_user("xss-ic", "ic@example.com", "correct horse battery")
        add_member(actor=SYSTEM, page=page, user=commander, role="commander")
        create_component(actor=SYSTEM, page=other, name="Globex API")
        world = World(page=page, owner=owner)
        build_world(world, commander)
        yield world
        transaction.set_rollback(True)


@pytest.fixture
def world(_world, db):
    _world.page.refresh_from_db()
    return _world


@pytest.fixture
def page(world):
    return world.page


_PUBLIC: dict[str, object] = {}


@pytest.fixture
def public(world, client):
    """Every public document of the world's page, fetched once for the module (rendering the page with
    the whole corpus is the slow part): public("history.atom") is the response to <page root>history.atom."""
    if not _PUBLIC:
        root = f"/pages/{world.page.slug}/"
        names = [
            "",
            "live",
            "history",
            "subscribe",
            "history.atom",
            "history.rss",
            "badge.svg",
            "maintenance.ics",
        ]
        names += ["api/v2/summary.json", "api/v2/scheduled-maintenances/upcoming.json"]
        names += [f"incidents/{i.code}" for i in world.incidents + world.maintenances]
        names += [f"components/{c.code}/badge.svg" for c in world.components]
        for name in names:
            _PUBLIC[name] = _get(client, root + name)
    return _PUBLIC.__getitem__


def build_world(made: World, commander: User) -> None:
    """Every payload in every stored text field of the world's page: names of at most 100 characters
    (components, groups, templates) hold one payload each; incident and maintenance names (200) and
    bodies hold several, so the page stays a size a test can render quickly."""
    page, actor = made.page, Actor.of(made.owner)
    start = NOW - timedelta(days=3)
    for text in PAYLOADS:
        group = create_group(actor=actor, page=page, name=text, description=text)
        made.groups.append(group)
        made.components.append(
            create_component(
                actor=actor,
                page=page,
                name=text,
                description=text,
                group=group,
                at=start - timedelta(days=30),
            )
        )
        made.templates.append(
            save_template(actor=actor, page=page, name=text, title=text, body=text, status="identified")
        )
    bodies = chunks(PAYLOADS, 1000)
    for i, name in enumerate(chunks(PAYLOADS, 200)):
        incident = create_incident(
            actor=actor,
            page=page,
            name=name,
            body=bodies[i % len(bodies)],
            components={made.components[i]: "degraded_performance"},
            commander=commander,
            at=start + timedelta(minutes=i),
        )
        made.incidents.append(incident)
    for i, name in enumerate(chunks(PAYLOADS, 200)[:8]):
        made.maintenances.append(
            schedule_maintenance(
                actor=actor,
                page=page,
                name=name,
                body=bodies[i % len(bodies)],
                components=[made.components[i]],
                scheduled_for=NOW + timedelta(days=1, minutes=i),
                scheduled_until=NOW + timedelta(days=1, hours=2),
            )
        )
    first = made.incidents[0]
    post_update(actor=actor, incident=first, status="identified", body="\n\n".join(PAYLOADS), at=NOW)
    save_postmortem(actor=actor, incident=first, body="\n\n".join(PAYLOADS))
    publish_postmortem(actor=actor, incident=first, at=NOW)


def _assert_literal(text: str, payloads: list[str], where: str) -> None:
    missing = [p for p in payloads if p not in text]
    assert not missing, f"{where}: {len(missing)} payloads not shown literally, e.g. {missing[:3]!r}"


def _assert_templates_literal(text: str, where: str) -> None:
    _assert_literal(text, xss_corpus.TEMPLATE_LITERALS, where)


def _owner_client(world: World) -> Client:
    client = Client()
    client.force_login(world.owner)
    return client


def _get(client: Client, url: str, **kwargs):
    response = client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code)
    return response


def _html(response, where: str, **kwargs):
    """Check an HTML response: the CSP header, then the document's inertness."""
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, where
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    return assert_inert(response.content.decode(), where, **kwargs)


# --- The checker itself --------------------------------------------------------------------------------


def test_the_checker_catches_every_html_payload_left_raw():
    """Were escaping or sanitizing broken, the checks below would fail: each HTML payload, left as it is,
    is reported by the checker (the full-width and template ones are harmless text and not in this set)."""
    missed = [p for p in PLAIN_HTML_PAYLOADS if not check_html(f"<p>{p}</p>").problems]
    assert set(missed) == xss_corpus.HARMLESS_RAW


def test_the_checker_catches_markdown_payloads_rendered_without_sanitizing():
    """Our Markdown has two locks: markdown-it's link validation and nh3. With the first open and no nh3,
    the checker sees the links and images the payloads make."""
    unsafe = MarkdownIt("commonmark", {"html": True})
    unsafe.validateLink = lambda url: True
    caught = [p for p in xss_corpus.MARKDOWN if check_html(unsafe.render(p)).problems]
    assert len(caught) >= 9, caught


# --- The public side -----------------------------------------------------------------------------------


def test_public_pages_feeds_and_documents_are_inert(world, public):
    shown = []
    names = ["", "live", "history", "subscribe"] + [
        f"incidents/{i.code}" for i in world.incidents + world.maintenances
    ]
    for name in names:
        shown.append(_html(public(name), name or "index").all_text)
    text = "".join(shown)
    _assert_literal(text, [c.name for c in world.components], "public pages: component names")
    _assert_literal(text, [g.name for g in world.groups], "public pages: group names")
    _assert_literal(text, PAYLOADS, "public pages: incident names")
    _assert_literal(text, [world.page.name, world.page.headline], "public pages: page name and headline")
    _assert_templates_literal(text, "public pages: Markdown bodies")


@pytest.mark.parametrize("feed", ["history.atom", "history.rss"])
def test_feeds_are_well_formed_and_their_html_is_inert(world, public, feed):
    tree = ElementTree.fromstring(public(feed).content)  # well-formed XML whatever the names hold
    entries = [e for e in tree.iter() if e.tag.endswith("entry") or e.tag == "item"]
    assert len(entries) == min(publishing.FEED_ITEMS, len(world.incidents) + len(world.maintenances))
    titles = [t.text or "" for e in entries for t in e if t.tag.endswith("title")]
    names = {i.name for i in world.incidents + world.maintenances}
    assert len(titles) == len(entries) and set(titles) <= names, "entry titles are the names, as text"
    html = [n.text for n in tree.iter() if n.tag.endswith(("summary", "description", "content")) and n.text]
    for entry_html in html:
        assert_inert(entry_html, f"{feed} entry HTML")
    _assert_templates_literal(check_html("".join(html)).all_text, f"{feed} entries")


def test_public_json_carries_plain_text(world, public):
    summary = public("api/v2/summary.json")
    assert summary["Content-Type"].startswith("application/json")
    assert summary["X-Content-Type-Options"] == "nosniff"
    doc = summary.json()
    assert {c["name"] for c in doc["components"]} >= {c.name for c in world.components}
    assert {i["name"] for i in doc["incidents"]} == {i.name for i in world.incidents}
    bodies = "".join(u["body"] for i in doc["incidents"] for u in i["incident_updates"])
    _assert_literal(bodies, PAYLOADS, "update bodies are the text as written (Markdown source), not HTML")
    # The embed reads summary.json and writes it with textContent only (static/js/embed.js).
    upcoming = public("api/v2/scheduled-maintenances/upcoming.json").json()
    assert {m["name"] for m in upcoming["scheduled_maintenances"]} == {m.name for m in world.maintenances}


def test_badges_are_well_formed_svg_with_no_script(world, public):
    for name in ["badge.svg"] + [f"components/{c.code}/badge.svg" for c in world.components]:
        response = public(name)
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        tree = ElementTree.fromstring(response.content)
        for node in tree.iter():
            tag = node.tag.rsplit("}", 1)[-1].lower()
            assert tag not in {"script", "foreignobject", "iframe", "a", "use", "animate", "set"}, (name, tag)
            for attribute, value in node.attrib.items():
                local = attribute.rsplit("}", 1)[-1].lower()
                assert not local.startswith("on"), (name, attribute)
                if local in {"href", "src"}:
                    assert not value.lower().strip().startswith("javascript:"), (name, attribute, value)


def test_the_maintenance_calendar_escapes_text(world, public):
    body = public("maintenance.ics").content
    calendar = icalendar.Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(world["maintenances"]), "no event forged by a name or a body"
    assert {str(e["SUMMARY"]) for e in events} == {m.name for m in world["maintenances"]}
    for line in body.decode().split("\r\n"):
        assert not line.startswith(("BEGIN:VALARM", "ATTACH", "URL:javascript")), line


def test_page_name_and_headline_are_text_everywhere(client, db):
    """Each payload as the name and headline of a page of its own (the world's page carries one of each,
    for the console); its public page, feed and badge are rendered on first request."""
    for i, text in enumerate(PAYLOADS):
        publishing.publish_page(create_page(actor=SYSTEM, name=text, headline=text, slug=f"named-{i}").pk)
        root = f"/pages/named-{i}/"
        findings = _html(_get(client, root), f"public page named {text!r}")
        _assert_literal(findings.all_text, [text], "page name")
        ElementTree.fromstring(_get(client, root + "history.atom").content)
        ElementTree.fromstring(_get(client, root + "badge.svg").content)


# --- The console --------------------------------------------------------------------------------------


def test_console_pages_are_inert(world, page):
    owner = _owner_client(world)
    base = f"/console/{page.slug}/"
    urls = [
        base,
        base + "incidents/",
        base + "components/",
        base + "components/dependencies/",
        base + "templates/",
        base + "maintenance/",
        base + "audit/",
        base + "settings/",
        base + "subscribers/",
        base + "notifications/",
        base + "reports/cadence/",
        base + "incidents/new/",
    ]
    urls += [f"{base}incidents/{i.code}/" for i in world["incidents"][:4]]
    urls += [f"{base}incidents/{world['incidents'][0].code}/postmortem/"]
    urls += [f"{base}components/{c.code}/" for c in world["components"][:3]]
    urls += [f"{base}templates/{t.code}/" for t in world["templates"][:3]]
    urls += [f"{base}maintenance/{m.code}/" for m in world["maintenances"][:3]]
    text = []
    for url in urls:
        text.append(_html(_get(owner, url), url).all_text)
    text = "".join(text)
    _assert_literal(text, [c.name for c in world["components"]], "console: component names")
    _assert_literal(text, PAYLOADS, "console: incident names")
    _assert_literal(text, [t.name for t in world["templates"]], "console: template names")


def test_the_markdown_preview_is_inert(world, page):
    owner = _owner_client(world)
    response = owner.post(f"/console/{page.slug}/preview/", {"body": "\n\n".join(PAYLOADS)})
    assert response.status_code == 200
    _html(response, "Markdown preview")
    _assert_templates_literal(check_html(response.content.decode()).all_text, "preview")


def test_templates_fill_placeholders_without_evaluating_anything(page):
    for text in xss_corpus.TEMPLATE:
        out = render_template_text(text, page=page)
        assert out == text.replace("${page}", page.name).replace("$page", page.name)


# --- Notifications ------------------------------------------------------------------------------------


def _event_content(incident: Incident) -> EventContent:
    event = OutboxEvent.objects.filter(incident=incident).order_by("-pk").first()
    return EventContent(event)


EMAIL_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "auto-submitted",
    "x-status-event",
    "mime-version",
    "content-type",
}


def test_emails_are_inert_and_their_headers_cannot_be_injected(world, page):
    subscriber = Subscriber(page=page, kind="email", email="reader@example.com")
    for incident in world["incidents"] + world["maintenances"]:
        content = _event_content(incident)
        message = content.email(Delivery(event=content.event, subscriber=subscriber), subscriber)
        assert_inert(message.html, f"email HTML of {incident.name!r}", styles_allowed=True)
        _assert_literal(message.text, [incident.name], "email text")
        assert "&lt;" not in message.text and "&quot;" not in message.text, (
            "the text part is not HTML-escaped"
        )
        # The wire form: the subject is one encoded header, whatever the name holds.
        parsed = email.message_from_bytes(message.wire()[2], policy=email_policy.default)
        names = {k.lower() for k in parsed}
        assert names <= EMAIL_HEADERS, names - EMAIL_HEADERS
        assert " ".join(parsed["Subject"].split()) == " ".join(message.subject.split())
    postmortem_event = EventContent(
        OutboxEvent(page=page, incident=world["incidents"][0], type="postmortem.published")
    )
    message = postmortem_event.email(Delivery(subscriber=subscriber), subscriber)
    assert_inert(message.html, "postmortem email", styles_allowed=True)


@pytest.mark.parametrize("fmt", ["statuspage", "slack", "discord", "teams"])
def test_webhook_payloads_are_json_with_plain_text(world, page, fmt):
    subscriber = Subscriber(
        page=page, kind="webhook", endpoint="https://hooks.example.com/x", webhook_format=fmt
    )
    for incident in world["incidents"][:30]:
        content = _event_content(incident)
        doc = json.loads(content.webhook(Delivery(subscriber=subscriber), subscriber).body)
        if fmt == "statuspage":
            assert doc["incident"]["name"] == incident.name
        if fmt == "slack":
            # Slack mrkdwn (the top-level text too): user text cannot forge a link or a mention.
            for value in _strings(doc):
                assert "<javascript" not in value and "<SCRIPT" not in value, value


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


# --- The management API -------------------------------------------------------------------------------


def test_management_api_returns_plain_text(world, page):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(
        HTTP_AUTHORIZATION=f"OAuth {create_api_key(actor=SYSTEM, page=page, name='k', role='viewer')[1]}"
    )
    base = f"/api/v1/pages/{page.code}/"
    incidents = api.get(base + "incidents").json()
    assert {i["name"] for i in incidents} >= {i.name for i in world["incidents"]}
    components = api.get(base + "components").json()
    assert {c["name"] for c in components} >= {c.name for c in world["components"]}
    assert {c["description"] for c in components} >= set(PAYLOADS)
    templates = api.get(base + "incident_templates").json()
    assert {t["name"] for t in templates} == {t.name for t in world["templates"]}
    response = api.get(base + "incidents")
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
