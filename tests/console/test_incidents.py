"""Running an incident from the console: every form works with good input, answers bad input with field
errors and writes nothing; stale forms are caught; handover, corrections, reopening, postmortems and
backfill do what a commander expects, through the same services the API calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from components.models import Component, ComponentStatusChange
from incidents.models import Incident, IncidentUpdate, Postmortem
from incidents.services import post_update
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, Actor
from subscribers.models import OutboxEvent
from tests.console.conftest import T

NEW = "/console/acme/incidents/new/"


def written():
    """A fingerprint of everything a console write could touch."""
    return (
        Incident.objects.count(),
        IncidentUpdate.objects.count(),
        ComponentStatusChange.objects.count(),
        OutboxEvent.objects.count(),
        AuditEvent.objects.count(),
        Postmortem.objects.count(),
        sorted(Component.objects.values_list("code", "status")),
    )


def errors_of(response):
    return response.context["form"].errors


# Opening ------------------------------------------------------------------------------------------------


def test_opening_an_incident_sets_components_commander_and_notifies(page, team, api, web):
    client = team.client("commander")
    form = client.get(NEW).context["form"]
    assert form["commander"].initial == team.commander.pk, "the author commands by default"
    assert form["deliver_notifications"].initial is True, "notifying is on by default"
    response = client.post(
        NEW,
        {
            "name": "Checkout failing",
            "status": "investigating",
            "body": "Payments **fail** for some customers.",
            "impact_override": "",
            "commander": team.owner.pk,
            "deliver_notifications": "on",
            f"comp_{api.code}": "major_outage",
            f"comp_{web.code}": "",
        },
    )
    incident = Incident.objects.get(name="Checkout failing")
    assert response.status_code == 302
    assert response["Location"] == f"/console/acme/incidents/{incident.code}/"
    assert incident.commander == team.owner
    assert incident.impact == "critical", "computed from the worst component status"
    assert list(incident.components.all()) == [api]
    api.refresh_from_db(), web.refresh_from_db()
    assert (api.status, web.status) == ("major_outage", "operational")
    assert OutboxEvent.objects.filter(incident=incident, type="incident.created").count() == 1
    assert AuditEvent.objects.filter(page=page, action="incident.created", actor=team.commander).exists()


def test_impact_can_be_overridden_and_silence_chosen(team, api):
    team.client("commander").post(
        NEW,
        {
            "name": "Slow search",
            "status": "identified",
            "body": "",
            "impact_override": "minor",
            "commander": team.commander.pk,
            f"comp_{api.code}": "major_outage",
        },
    )
    incident = Incident.objects.get(name="Slow search")
    assert incident.effective_impact == "minor"
    assert incident.updates.get().body == "The issue has been identified and a fix is being implemented."
    assert not OutboxEvent.objects.filter(incident=incident).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"status": "resolved"}, "status"),
        ({"status": "panicking"}, "status"),
        ({"impact_override": "apocalyptic"}, "impact_override"),
        ({"commander": "999999"}, "commander"),
        ({"commander": "abc"}, "commander"),
        ({"comp": "on_fire"}, "comp"),
    ],
)
def test_opening_with_bad_input_shows_field_errors_and_writes_nothing(team, api, change, field):
    data = {
        "name": "Checkout failing",
        "status": "investigating",
        "body": "x",
        "commander": team.commander.pk,
        f"comp_{api.code}": "partial_outage",
    }
    if "comp" in change:
        data[f"comp_{api.code}"] = change.pop("comp")
        field = f"comp_{api.code}"
    data.update(change)
    before = written()
    response = team.client("commander").post(NEW, data)
    assert response.status_code == 200
    assert field in errors_of(response)
    assert written() == before


def test_a_viewer_of_the_page_cannot_be_made_commander(team, api):
    before = written()
    response = team.client("commander").post(
        NEW, {"name": "X", "status": "investigating", "commander": team.viewer.pk}
    )
    assert "commander" in errors_of(response)
    assert written() == before


def test_a_template_fills_the_form_by_plain_substitution(team, template, api):
    template.body = "$page is failing over. {{ 7|add:1 }} {% now 'Y' %} ${page.__class__} $$5"
    template.save()
    response = team.client("commander").get(f"{NEW}?template={template.code}")
    form = response.context["form"]
    assert form.initial["name"] == "Database failover on Acme"
    assert form.initial["body"] == "Acme is failing over. {{ 7|add:1 }} {% now 'Y' %} ${page.__class__} $5"
    assert form["status"].initial == "identified"
    assert form[f"comp_{api.code}"].initial == "partial_outage"


def test_a_template_of_another_page_is_404(team, other_page):
    from incidents.services import save_template

    foreign = save_template(actor=SYSTEM, page=other_page, name="T", title="T", body="B", status="identified")
    assert team.client("commander").get(f"{NEW}?template={foreign.code}").status_code == 404


# Updating -----------------------------------------------------------------------------------------------


def url(incident, rest=""):
    return f"/console/acme/incidents/{incident.code}/{rest}"


def update_form(client, incident, **data):
    """The update form as the page renders it, with `data` typed over it."""
    form = client.get(url(incident)).context["form"]
    values = {name: field.value() for name, field in form.fields.items() for field in [form[name]]}
    values = {k: v for k, v in values.items() if v not in (None, False)}
    values.update(data)
    return values


def test_the_update_form_is_prefilled_with_the_current_state(team, incident, api, web):
    form = team.client("commander").get(url(incident)).context["form"]
    assert form["status"].value() == "investigating"
    assert form[f"comp_{api.code}"].value() == "partial_outage"
    assert form[f"comp_{web.code}"].value() == ""
    assert form["seen_update"].value() == incident.updates.get().code


def test_posting_an_update_with_htmx_returns_the_timeline_in_place(team, incident, api):
    client = team.client("commander")
    data = update_form(client, incident, status="identified", body="Bad deploy; rolling back.")
    response = client.post(url(incident, "update/"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "update-posted"
    html = response.content.decode()
    assert "Bad deploy; rolling back." in html and 'id="incident-page"' in html
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert incident.next_update_due_at > T
    # The fresh form in the response knows the new latest update, so posting again is not "stale".
    assert response.context["form"]["seen_update"].value() == incident.updates.first().code


def test_posting_without_htmx_redirects_back(team, incident):
    client = team.client("commander")
    response = client.post(url(incident, "update/"), update_form(client, incident, status="monitoring"))
    assert response.status_code == 302 and response["Location"] == url(incident)


def test_a_stale_update_form_is_refused_and_nothing_is_overwritten(team, incident):
    client = team.client("commander")
    data = update_form(client, incident, status="identified", body="Mine")
    post_update(actor=Actor.of(team.owner), incident=incident, status="monitoring", body="Theirs")
    before = written()
    response = client.post(url(incident, "update/"), data)
    assert response.status_code == 400
    assert "posted" in " ".join(response.context["form"].non_field_errors()).lower()
    assert written() == before
    incident.refresh_from_db()
    assert incident.status == "monitoring"


@pytest.mark.parametrize(
    ("change", "field"), [({"status": "confused"}, "status"), ({"comp": "melting"}, "comp")]
)
def test_a_bad_update_gets_field_errors_and_writes_nothing(team, incident, api, change, field):
    client = team.client("commander")
    data = update_form(client, incident)
    if "comp" in change:
        change = {f"comp_{api.code}": change["comp"]}
        field = f"comp_{api.code}"
    data.update(change)
    before = written()
    response = client.post(url(incident, "update/"), data)
    assert response.status_code == 400
    assert field in errors_of(response)
    assert written() == before


def test_resolving_returns_affected_components_to_operational_when_asked(team, incident, api):
    client = team.client("commander")
    client.post(url(incident, "update/"), update_form(client, incident, status="resolved"))
    api.refresh_from_db()
    incident.refresh_from_db()
    assert (incident.status, api.status) == ("resolved", "operational")


def test_resolving_can_leave_components_as_they_are(team, incident, api):
    client = team.client("commander")
    data = update_form(client, incident, status="resolved")
    data.pop("restore_components")
    client.post(url(incident, "update/"), data)
    api.refresh_from_db()
    assert api.status == "partial_outage"


def test_a_resolved_incident_can_be_reopened_and_that_is_recorded(team, incident):
    client = team.client("commander")
    client.post(url(incident, "update/"), update_form(client, incident, status="resolved"))
    response = client.post(
        url(incident, "update/"), update_form(client, incident, status="investigating", body="It is back.")
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "investigating" and incident.resolved_at is None
    assert incident.next_update_due_at is not None, "a reopened incident is held to the cadence again"
    assert AuditEvent.objects.filter(action="incident.reopened", object_id=incident.code).count() == 1


def test_a_past_update_can_be_corrected_and_only_the_audit_log_says_so(client, team, incident, page):
    from statuspage.publishing import publish_page

    update = incident.updates.get()
    edit = url(incident, f"updates/{update.code}/edit/")
    commander = team.client("commander")
    form = commander.get(edit).context["form"]
    assert form.initial["display_at"].strftime("%H:%M") == "08:00", "shown in the page's zone (Los Angeles)"
    response = commander.post(
        edit, {"body": "Errors on the **public** API.", "display_at": "2026-03-10T07:55"}
    )
    assert response.status_code == 302
    update.refresh_from_db()
    assert update.body == "Errors on the **public** API."
    assert update.display_at == T - timedelta(minutes=5)
    event = AuditEvent.objects.get(action="incident.update_edited", object_id=incident.code)
    assert event.before["body"] == "We are looking into errors on the API."
    assert event.after == {
        "body": "Errors on the **public** API.",
        "display_at": "2026-03-10T14:55:00+00:00",
        "update": update.code,
    }
    publish_page(page.pk)
    html = client.get(f"/pages/acme/incidents/{incident.code}").content.decode()
    assert "<strong>public</strong>" in html and "edited" not in html.lower()


def test_correcting_an_update_with_bad_input_writes_nothing(team, incident):
    update = incident.updates.get()
    before = written()
    response = team.client("commander").post(
        url(incident, f"updates/{update.code}/edit/"), {"body": "", "display_at": "yesterday-ish"}
    )
    assert response.status_code == 200
    assert set(errors_of(response)) == {"body", "display_at"}
    assert written() == before


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00", "9999-12-31T23:59", "1969-12-31T23:59", "2100-01-01T00:00"]
)
def test_a_time_at_the_ends_of_the_calendar_is_a_field_error_not_a_crash(team, incident, page, moment):
    """Year 1 or 9999 in the page's zone cannot be turned into UTC (it overflowed into a 500, found by the
    form fuzzing); every console date and time is held to 1970-2099, as the API's are."""
    from statuspage.services import SYSTEM, update_page

    update = incident.updates.get()
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):  # the zones furthest ahead of UTC and behind it
        update_page(actor=SYSTEM, page=page, time_zone=zone)
        before = written()
        response = team.client("commander").post(
            url(incident, f"updates/{update.code}/edit/"), {"body": "Corrected.", "display_at": moment}
        )
        assert response.status_code == 200, zone
        assert errors_of(response) == {"display_at": ["Give a time between 1970 and 2100."]}
        assert written() == before


# Handover -----------------------------------------------------------------------------------------------


def test_handover_tells_the_new_commander_and_shows_in_the_internal_log(team, incident, smtp, worker):
    client = team.client("commander")
    with worker():
        response = client.post(url(incident, "commander/"), {"commander": team.owner.pk})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.commander == team.owner
    (mail,) = smtp.to("owner@example.com")
    assert "You are now incident commander: API errors" in mail["Subject"]
    assert f"/console/acme/incidents/{incident.code}/" in mail.get_payload()
    html = client.get(url(incident)).content.decode()
    assert "handed the incident over → owner" in html


def test_handover_to_someone_who_cannot_command_is_refused(team, incident, smtp, worker):
    outsider_or_viewer = [team.viewer.pk, team.outsider.pk, 424242]
    for pk in outsider_or_viewer:
        with worker():
            team.client("commander").post(url(incident, "commander/"), {"commander": pk})
        incident.refresh_from_db()
        assert incident.commander == team.commander
    assert smtp.messages == []


# Postmortem ---------------------------------------------------------------------------------------------


def test_postmortem_draft_publish_and_unpublish(client, team, incident, page):
    from statuspage.publishing import publish_page

    pm = url(incident, "postmortem/")
    commander = team.client("commander")
    commander.post(pm, {"body": "## What happened\nA bad deploy.", "action": "save"})
    publish_page(page.pk)
    public = f"/pages/acme/incidents/{incident.code}"
    assert "A bad deploy." not in client.get(public).content.decode(), "a draft is not public"
    commander.post(pm, {"body": "## What happened\nA bad deploy.", "action": "publish", "notify": "on"})
    assert OutboxEvent.objects.filter(incident=incident, type="postmortem.published").count() == 1
    publish_page(page.pk)
    assert "A bad deploy." in client.get(public).content.decode()
    assert "A bad deploy." in client.get("/pages/acme/history.atom").content.decode()
    commander.post(pm, {"action": "unpublish"})
    publish_page(page.pk)
    assert "A bad deploy." not in client.get(public).content.decode()
    assert Postmortem.objects.get(incident=incident).body.endswith("A bad deploy.")


def test_an_empty_postmortem_is_refused(team, incident):
    before = written()
    response = team.client("commander").post(url(incident, "postmortem/"), {"body": "", "action": "publish"})
    assert "body" in errors_of(response)
    assert written() == before


# Backfill -----------------------------------------------------------------------------------------------


def test_backfilling_records_history_and_notifies_nobody(client, team, page, api):
    response = team.client("commander").post(
        "/console/acme/incidents/backfill/",
        {
            "name": "Database outage in January",
            "body": "The primary database was unreachable.",
            "started_at": "2026-01-15T09:00",
            "resolved_at": "2026-01-15T10:30",
            f"comp_{api.code}": "major_outage",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get(name="Database outage in January")
    assert incident.backfilled and incident.status == "resolved"
    # Typed in the page's zone (Los Angeles, UTC-8 in January), stored in UTC.
    assert incident.started_at.isoformat() == "2026-01-15T17:00:00+00:00"
    assert incident.resolved_at.isoformat() == "2026-01-15T18:30:00+00:00"
    assert not OutboxEvent.objects.filter(incident=incident).exists()
    api.refresh_from_db()
    assert api.status == "operational", "a backfill does not change today's status"
    assert incident.next_update_due_at is None


def test_backfill_with_times_in_the_wrong_order_writes_nothing(team, api):
    before = written()
    response = team.client("commander").post(
        "/console/acme/incidents/backfill/",
        {"name": "X", "body": "Y", "started_at": "2026-01-15T10:00", "resolved_at": "2026-01-15T09:00"},
    )
    assert "resolved_at" in errors_of(response)
    assert written() == before


# Components ---------------------------------------------------------------------------------------------


def test_a_component_status_changes_inline_and_can_join_an_incident(team, incident, web):
    client = team.client("commander")
    response = client.post(
        f"/console/acme/components/{web.code}/status/",
        {"status": "degraded_performance", "incident": incident.code},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Degraded Performance" in response.content.decode()
    web.refresh_from_db()
    assert web.status == "degraded_performance"
    assert web in incident.components.all()


def test_a_bad_component_status_is_refused_in_place(team, web):
    before = written()
    response = team.client("commander").post(
        f"/console/acme/components/{web.code}/status/", {"status": "exploded"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "Choose a status" in response.content.decode()
    assert written() == before


# Templates ----------------------------------------------------------------------------------------------


def test_templates_are_created_edited_and_deleted(team, page, api, template):
    client = team.client("commander")
    response = client.post(
        "/console/acme/templates/new/",
        {
            "name": "CDN trouble",
            "title": "Slow pages on $page",
            "body": "Our CDN is slow.",
            "status": "investigating",
            "components": [api.pk],
            "component_status": "degraded_performance",
            "deliver_notifications": "on",
        },
    )
    assert response.status_code == 302
    created = page.incident_templates.get(name="CDN trouble")
    assert list(created.components.all()) == [api]
    response = client.post(
        f"/console/acme/templates/{created.code}/",
        {"name": "", "title": "", "body": "", "status": "nope", "component_status": "operational"},
    )
    assert {"name", "title", "body", "status"} <= set(errors_of(response))
    created.refresh_from_db()
    assert created.name == "CDN trouble"
    client.post(f"/console/acme/templates/{created.code}/", {"delete": "1"})
    assert not page.incident_templates.filter(name="CDN trouble").exists()


def test_a_template_cannot_take_another_pages_components(team, other_page, make_component):
    foreign = make_component(other_page, "Foreign")
    response = team.client("commander").post(
        "/console/acme/templates/new/",
        {
            "name": "T",
            "title": "T",
            "body": "B",
            "status": "investigating",
            "components": [foreign.pk],
            "component_status": "major_outage",
        },
    )
    assert "components" in errors_of(response)


def test_two_templates_cannot_share_a_name(team, template):
    response = team.client("commander").post(
        "/console/acme/templates/new/",
        {
            "name": template.name,
            "title": "T",
            "body": "B",
            "status": "investigating",
            "component_status": "major_outage",
        },
    )
    assert response.status_code == 200
    assert errors_of(response)


# Dashboard ----------------------------------------------------------------------------------------------


def test_dashboard_lists_open_incidents_with_commander_and_due_state(team, incident):
    client = team.client("viewer")
    with time_machine.travel(T + timedelta(minutes=10), tick=False):
        html = client.get("/console/acme/").content.decode()
        assert "API errors" in html and "commander" in html
        assert "due--ok" in html
    with time_machine.travel(T + timedelta(minutes=26), tick=False):
        assert "due--soon" in client.get("/console/acme/").content.decode()
    with time_machine.travel(T + timedelta(minutes=31), tick=False):
        assert "due--overdue" in client.get("/console/acme/").content.decode()


def test_markdown_preview_is_sanitised(team):
    response = team.client("viewer").post(
        "/console/acme/preview/", {"body": "**bold** <script>alert(1)</script>"}
    )
    html = response.content.decode()
    assert "<strong>bold</strong>" in html and "<script>" not in html


# The public side ----------------------------------------------------------------------------------------


def test_the_public_incident_can_promise_the_next_update_in_the_pages_zone(client, team, incident, page):
    from statuspage.publishing import publish_page
    from statuspage.services import update_page

    public = f"/pages/acme/incidents/{incident.code}"
    publish_page(page.pk)
    assert "Next update by" not in client.get(public).content.decode(), "off by default"
    update_page(actor=SYSTEM, page=page, show_next_update=True)
    publish_page(page.pk)
    for html in (client.get(public).content.decode(), client.get("/pages/acme/").content.decode()):
        assert 'Next update by <time datetime="2026-03-10T08:30:00-07:00">08:30 PDT</time>' in html
    post_update(actor=SYSTEM, incident=incident, status="resolved", at=T + timedelta(minutes=20))
    publish_page(page.pk)
    assert "Next update by" not in client.get(public).content.decode(), "a resolved incident promises nothing"


def test_the_dashboard_reminds_the_commander_and_shows_owners_what_is_overdue(team, incident):
    def banner(who, minutes):
        with time_machine.travel(T + timedelta(minutes=minutes), tick=False):
            html = team.client(who).get("/console/acme/").content.decode()
        return ('role="alert"' in html) and ("Reminder:" in html or "Overdue:" in html), html

    assert not banner("commander", 10)[0]
    shown, html = banner("commander", 26)
    assert (
        shown
        and "Reminder:" in html
        and "Your next public update on “API errors” is due at 08:30 PDT" in html
    )
    assert not banner("owner", 26)[0], "owners hear only of what is overdue"
    shown, html = banner("owner", 31)
    assert shown and "Overdue:" in html and "commander's next public update" in html
    assert not banner("viewer", 31)[0]
    post_update(actor=SYSTEM, incident=incident, status="identified", at=T + timedelta(minutes=32))
    assert not banner("owner", 33)[0] and not banner("commander", 33)[0]


def test_the_cadence_reports_cover_the_chosen_period_of_this_page_only(team, page, other_page, incident):
    from incidents.services import create_incident

    post_update(actor=SYSTEM, incident=incident, status="identified", at=T + timedelta(minutes=45))
    post_update(actor=SYSTEM, incident=incident, status="resolved", at=T + timedelta(minutes=60))
    create_incident(actor=SYSTEM, page=page, name="Long ago", body="b", at=T - timedelta(days=40))
    create_incident(actor=SYSTEM, page=other_page, name="Theirs", body="b", at=T)
    client = team.client("viewer")
    with time_machine.travel(T + timedelta(days=1), tick=False):
        week = client.get("/console/acme/reports/cadence/?days=7").context["report"]
        quarter = client.get("/console/acme/reports/cadence/?days=90").context["report"]
        fallback = client.get("/console/acme/reports/cadence/?days=lots")
    assert [i.name for i, _ in week["rows"]] == ["API errors"]
    assert week["updates"] == 3
    assert week["longest_gap"] == timedelta(minutes=45)
    assert week["on_time_share"] == pytest.approx(0.5)
    assert week["median_time_to_resolve"] == timedelta(minutes=60)
    assert sorted(i.name for i, _ in quarter["rows"]) == ["API errors", "Long ago"]
    assert fallback.status_code == 200 and fallback.context["days"] == 30
    html = client.get(url(incident)).content.decode()
    assert "Longest gap" in html or "longest" in html.lower()
