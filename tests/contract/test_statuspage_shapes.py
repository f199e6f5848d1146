"""Contract tests: our documents against Statuspage's, field by field.

The fixtures in fixtures/ are Statuspage's documents as its public sources show them (../shared/STATUSPAGE.md
sections 1 to 3: the public v2 documents, the management resources, the webhook payloads). For each one we
build the same thing on a real page and compare: every Statuspage field is present, with the same JSON
type (a null in Statuspage's example allows any type; a null in ours is allowed where Statuspage's field
is nullable), timestamps with milliseconds and an offset, dates as YYYY-MM-DD, and nesting the same.
Fields we add are named per resource below; anything else extra fails. Statuspage fields we do not offer
are named too, with the reason. Then the same objects read through the public and the management API agree.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from components.models import Component, ComponentGroup
from incidents.models import IncidentTemplate
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    save_postmortem,
    schedule_maintenance,
    start_maintenance,
)
from statuspage import publishing
from statuspage.services import SYSTEM, create_api_key, update_page
from subscribers.services import subscribe

FIXTURES = Path(__file__).parent / "fixtures"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
DAY = re.compile(r"^\d{4}-\d\d-\d\d$")

# Ours, beyond Statuspage's fields, by resource (docs/api.md names each).
OURS = {
    "component": {"is_public", "depends_on"},
    "component_group": {"status", "is_public", "collapsed"},
    "incident": {
        "commander",
        "next_update_due_at",
        "scheduled_reminders",
        "approval",
        "cancelled_at",
        "published_at",
    },
    "page": {
        "homepage_url",
        "update_cadence_minutes",
        "monitoring_cadence_minutes",
        "reminder_lead_minutes",
        "incidents_raise_indicator",
        "show_next_update",
        "escalation_webhook_url",
        "propagate_dependencies",
        "require_change_approval",
        "visibility",
        "allowed_ip_ranges",
        "allowed_viewer_emails",
    },
    "subscriber": {"state", "webhook_format", "skip_unsubscription_notification", "confirmed_at"},
    "template": set(),
    "uptime": set(),
    # Webhooks carry the whole v2 component and update, where Statuspage's sample shows a subset.
    "webhook": {"start_date", "group", "only_show_if_degraded", "tweet_id"},
}
# Statuspage fields we do not offer, and why (none at present for these resources).
NOT_OFFERED: dict[str, dict[str, str]] = {}


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def mismatches(ours, theirs, path: str = "$", extra: frozenset[str] = frozenset()) -> list[str]:
    """Where `ours` differs in shape from Statuspage's `theirs`."""
    if theirs is None or ours is None:
        return []  # Statuspage's example leaves the type open, or ours is null (Statuspage's are nullable)
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return [] if isinstance(theirs, bool) and isinstance(ours, bool) else [f"{path}: boolean expected"]
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: object expected, got {type(ours).__name__}"]
        out = [f"{path}.{key}: missing" for key in theirs if key not in ours]
        out += [
            f"{path}.{key}: not Statuspage's (add it to OURS if it is ours)"
            for key in ours.keys() - theirs.keys() - extra
        ]
        for key in theirs.keys() & ours.keys():
            out += mismatches(ours[key], theirs[key], f"{path}.{key}", extra)
        return out
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: array expected, got {type(ours).__name__}"]
        out = []
        for i, item in enumerate(ours):
            model = theirs[0] if theirs else None
            if isinstance(item, dict) and theirs and "group" in item:
                model = next((t for t in theirs if t.get("group") == item["group"]), theirs[0])
            if model is not None:
                out += mismatches(item, model, f"{path}[{i}]", extra)
        return out
    if isinstance(theirs, str):
        if not isinstance(ours, str):
            return [f"{path}: string expected, got {type(ours).__name__}"]
        if STAMP.match(theirs) and not STAMP.match(ours):
            return [f"{path}: a timestamp with milliseconds and an offset expected, got {ours!r}"]
        if DAY.match(theirs) and not DAY.match(ours):
            return [f"{path}: YYYY-MM-DD expected, got {ours!r}"]
        return []
    if isinstance(theirs, int | float):
        return (
            [] if isinstance(ours, int | float) else [f"{path}: number expected, got {type(ours).__name__}"]
        )
    return []


@pytest.fixture
def acme(page, make_component, make_group, settings, setup_committed):
    """Statuspage's example page, rebuilt: a standalone API component in partial outage through an open
    incident with two updates, a group with a child, a maintenance scheduled and one in progress, a
    resolved incident with a published postmortem, a subscriber and a template."""
    now = timezone.now()
    api = make_component(page, "API")
    regions = make_group(page, "Regions")
    eu = make_component(page, "EU-West", group=regions)
    incident = create_incident(
        actor=SYSTEM, page=page, name="Elevated API error rates", body="Investigating 5xx.",
        components={api: "partial_outage"},
    )  # fmt: skip
    post_update(actor=SYSTEM, incident=incident, status="identified", body="A fix is being implemented.")
    schedule_maintenance(
        actor=SYSTEM, page=page, name="Database upgrade", body="Upgrading.", components=[eu],
        scheduled_for=now + timedelta(days=2), scheduled_until=now + timedelta(days=2, hours=1),
    )  # fmt: skip
    network = schedule_maintenance(
        actor=SYSTEM, page=page, name="Network work", body="Scheduled.", components=[eu],
        scheduled_for=now + timedelta(minutes=10), scheduled_until=now + timedelta(hours=1),
    )  # fmt: skip
    start_maintenance(actor=SYSTEM, incident=network)
    past = create_incident(actor=SYSTEM, page=page, name="Login slow", body="Looking.")
    post_update(actor=SYSTEM, incident=past, status="resolved", body="Fixed.")
    save_postmortem(actor=SYSTEM, incident=past, body="## What happened")
    publish_postmortem(actor=SYSTEM, incident=past, notify=False)
    subscriber = subscribe(
        page=page, email="ana@example.com", components=[api], actor=SYSTEM, skip_confirmation=True
    )
    template = IncidentTemplate.objects.create(
        page=page, name="API errors", title="Elevated API errors", body="b"
    )
    template.components.set([api])
    setup_committed()
    publishing.publish_page(page.pk)
    key = create_api_key(actor=SYSTEM, page=page, name="contract", role="owner")[1]
    return {
        "page": page, "api": api, "regions": regions, "eu": eu, "incident": incident, "past": past,
        "subscriber": subscriber, "template": template, "key": key,
    }  # fmt: skip


def public(client, name: str) -> dict:
    response = client.get(f"/pages/acme/api/v2/{name}")
    assert response.status_code == 200, name
    return response.json()


def management(client, acme, path: str):
    url = f"/api/v1/pages/{acme['page'].code}" + (f"/{path}" if path else "")
    response = client.get(url, HTTP_AUTHORIZATION=f"OAuth {acme['key']}")
    assert response.status_code == 200, (path, response.content)
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(load("public")))
def test_public_documents_match_statuspages(client, acme, name):
    ours = public(client, name)
    theirs = load("public")[name]
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if isinstance(value, list):
            assert ours[key], f"{name}: the page should have {key} to compare"
    assert mismatches(ours, theirs) == []


def _management_documents(client, acme) -> dict[str, object]:
    ids = {k: acme[k].code for k in ("api", "regions", "incident", "past", "subscriber", "template")}
    incident = management(client, acme, f"incidents/{ids['incident']}")
    return {
        "page": management(client, acme, ""),
        "component": management(client, acme, f"components/{ids['api']}"),
        "component_group": management(client, acme, f"component-groups/{ids['regions']}"),
        "incident": incident,
        "incident_update": management(
            client,
            acme,
            f"incidents/{ids['incident']}/incident_updates/{incident['incident_updates'][0]['id']}",
        ),
        "postmortem": management(client, acme, f"incidents/{ids['past']}/postmortem"),
        "subscriber": management(client, acme, f"subscribers/{ids['subscriber']}"),
        "template": management(client, acme, f"incident_templates/{ids['template']}"),
        "uptime": management(client, acme, f"components/{ids['api']}/uptime"),
    }


@pytest.mark.django_db
def test_management_resources_match_statuspages(client, acme):
    theirs = load("management")
    ours = _management_documents(client, acme)
    problems = {}
    for name, document in ours.items():
        extra = frozenset(OURS.get(name, set())) | frozenset(
            key for other in ("component", "incident") for key in OURS[other]
        )
        expected = dict(theirs[name])
        for key in NOT_OFFERED.get(name, {}):
            expected.pop(key, None)
        found = mismatches(document, expected, name, extra)
        if found:
            problems[name] = found
    assert problems == {}


@pytest.mark.django_db
def test_webhook_payloads_match_statuspages(acme, http_receiver, worker, setup_committed):
    page, api = acme["page"], acme["api"]
    subscribe(page=page, endpoint=http_receiver.url, actor=SYSTEM, skip_confirmation=True)
    setup_committed()
    with worker():
        post_update(actor=SYSTEM, incident=acme["incident"], status="monitoring", body="Fix deployed.",
                    components={api: "degraded_performance"})  # fmt: skip
    theirs = load("webhooks")
    payloads = {("component_update" if "component_update" in r["json"] else "incident"): r["json"]
                for r in http_receiver.requests}  # fmt: skip
    assert set(payloads) == {"incident", "component_update"}
    extra = frozenset(OURS["incident"] | OURS["component"] | OURS["webhook"])
    for name, payload in payloads.items():
        expected = json.loads(json.dumps(theirs[name]))
        for key in NOT_OFFERED.get("incident", {}):
            expected.get("incident", {}).pop(key, None)
        assert mismatches(payload, expected, name, extra) == []


@pytest.mark.django_db
def test_the_public_and_the_management_api_agree(client, acme):
    update_page(actor=SYSTEM, page=acme["page"], name="Acme")
    publishing.publish_page(acme["page"].pk)
    summary = public(client, "summary.json")
    for component in summary["components"]:
        path = "component-groups" if component["group"] else "components"
        managed = management(client, acme, f"{path}/{component['id']}")
        shared = set(component) & set(managed)
        assert {k: component[k] for k in shared} == {k: managed[k] for k in shared}, component["name"]
    for incident in summary["incidents"] + summary["scheduled_maintenances"]:
        managed = management(client, acme, f"incidents/{incident['id']}")
        shared = set(incident) & set(managed)
        assert shared >= {"id", "name", "status", "impact", "incident_updates", "components", "shortlink"}
        assert {k: incident[k] for k in shared} == {k: managed[k] for k in shared}, incident["name"]
    one = public(client, f"incidents/{acme['past'].code}.json")["incident"]
    managed = management(client, acme, f"incidents/{acme['past'].code}")
    assert {k: one[k] for k in set(one) & set(managed)} == {k: managed[k] for k in set(one) & set(managed)}
    assert Component.objects.filter(page=acme["page"]).count() == 2
    assert ComponentGroup.objects.filter(page=acme["page"]).count() == 1
