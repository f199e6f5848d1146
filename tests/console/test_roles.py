"""The role matrix on every console URL, generated from the URL configuration so a new view cannot be
forgotten: anonymous visitors are sent to sign in, members of another page get 404, a role below the
view's least role gets 403, and every allowed role gets an answer that is neither an error nor a 500,
even for an empty POST."""

from __future__ import annotations

import pytest
from django.urls import reverse

from statuspage import console_urls
from statuspage.models import Membership
from statuspage.permissions import allows

ROLES = ("viewer", "commander", "owner")
PAGE_VIEWS = [p.name for p in console_urls.page]


# The policy, written out: reading pages is for every member; running incidents and components is for
# commanders; the team and the page's settings are for owners. A new view fails the test below until it is
# placed here, and a view whose declared role drifts from the policy fails too.
POLICY = {
    "dashboard": "viewer",
    "incidents": "viewer",
    "incident": "viewer",
    "components": "viewer",
    "templates": "viewer",
    "audit": "viewer",
    "audit_export": "owner",
    "cadence_report": "viewer",
    "preview": "viewer",
    "incident_new": "commander",
    "incident_backfill": "commander",
    "incident_update": "commander",
    "update_edit": "commander",
    "incident_handover": "commander",
    "postmortem": "commander",
    "component_status": "commander",
    "component": "viewer",
    "dependencies": "viewer",
    "proposals_apply": "commander",
    "dependency_add": "commander",
    "dependency_remove": "commander",
    "template_new": "commander",
    "template_edit": "commander",
    "notifications": "viewer",
    "subscribers": "commander",
    "subscriber_add": "commander",
    "subscriber_import": "commander",
    "subscriber_export": "commander",
    "subscriber_action": "commander",
    "notification_retry": "commander",
    "team": "owner",
    "member_role": "owner",
    "settings": "owner",
    "api_keys": "owner",
    "api_key_revoke": "owner",
    "maintenance": "viewer",
    "maintenance_detail": "viewer",
    "maintenance_series": "viewer",
    "changes": "viewer",
    "change_detail": "viewer",
    "maintenance_new": "commander",
    "maintenance_action": "commander",
    "maintenance_series_stop": "commander",
    "change_new": "commander",
    "change_action": "commander",
    "maintenance_review": "owner",
    "maintenance_series_review": "owner",
    "change_review": "owner",
}


def test_every_page_view_declares_the_role_the_policy_gives_it():
    assert set(PAGE_VIEWS) == set(POLICY), "place every console view in POLICY"
    for pattern in console_urls.page:
        assert getattr(pattern.callback, "min_role", None) == POLICY[pattern.name], pattern.name


@pytest.fixture
def urls(page, other_page, team, incident, template, api, make_component):
    """Every page-scoped console URL of `page`, with its least role; and the same URLs naming objects of
    the other page (which must be 404 even for the owner of `page`)."""
    foreign_component = make_component(other_page, "Foreign")
    from incidents.services import create_incident
    from statuspage.services import SYSTEM

    foreign_incident = create_incident(actor=SYSTEM, page=other_page, name="Elsewhere", body="x")
    from subscribers.models import OutboxEvent
    from subscribers.services import subscribe

    subscriber = subscribe(page=page, actor=SYSTEM, email="s@example.com", skip_confirmation=True)
    foreign_subscriber = subscribe(
        page=other_page, actor=SYSTEM, email="s@example.com", skip_confirmation=True
    )
    member = Membership.objects.get(page=page, user=team.viewer)
    from statuspage.services import create_api_key

    our_key, _ = create_api_key(actor=SYSTEM, page=page, name="ours", role="viewer")
    their_key, _ = create_api_key(actor=SYSTEM, page=other_page, name="theirs", role="viewer")
    from tests.console.maintenance_objects import maintenance_objects

    our_planned, their_planned = maintenance_objects(page), maintenance_objects(other_page)
    ours = {
        "code": incident.code,
        "update_code": incident.updates.first().code,
        "component_code": api.code,
        "template_code": template.code,
        "member_id": member.pk,
        "subscriber_code": subscriber.code,
        "event_code": OutboxEvent.objects.filter(page=page).first().code,
        "key_id": our_key.pk,
        **our_planned,
    }
    theirs = {
        "code": foreign_incident.code,
        "update_code": foreign_incident.updates.first().code,
        "component_code": foreign_component.code,
        "template_code": "tplforeign00",
        "member_id": Membership.objects.get(page=other_page, user=team.outsider).pk,
        "subscriber_code": foreign_subscriber.code,
        "event_code": OutboxEvent.objects.filter(page=other_page).first().code,
        "key_id": their_key.pk,
        **their_planned,
    }
    rows = []
    for pattern in console_urls.page:
        names = set(pattern.pattern.converters)
        kwargs = {k: v for k, v in ours.items() if k in names}
        foreign = {k: v for k, v in theirs.items() if k in names}
        rows.append(
            (
                pattern.name,
                POLICY[pattern.name],
                reverse(f"console:{pattern.name}", kwargs={"page_slug": page.slug, **kwargs}),
                reverse(f"console:{pattern.name}", kwargs={"page_slug": page.slug, **foreign})
                if foreign
                else None,
            )
        )
    assert {r[0] for r in rows} == set(PAGE_VIEWS)
    return rows


def test_anonymous_visitors_are_sent_to_sign_in(urls):
    from django.test import Client

    client = Client()
    for name, _, url, _ in urls:
        response = client.post(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/console/login/?next="), name


def test_a_member_of_another_page_gets_404_everywhere(urls, team):
    client = team.client("outsider")
    for name, _, url, _ in urls:
        assert client.get(url).status_code in (404, 405), name
        assert client.post(url).status_code == 404, name


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_it_may(urls, team, role):
    client = team.client(role)
    for name, least, url, _ in urls:
        get, post = client.get(url), client.post(url)
        if allows(role, least):
            assert get.status_code in (200, 302, 405), (name, get.status_code)
            assert post.status_code in (200, 302, 400), (name, post.status_code)
        else:
            assert get.status_code in (403, 405), (name, get.status_code)
            assert post.status_code == 403, (name, post.status_code)


def test_objects_of_another_page_are_404_even_for_an_owner(urls, team):
    client = team.client("owner")
    for name, _, _, foreign in urls:
        if foreign is None:
            continue
        assert client.get(foreign).status_code in (404, 405), name
        assert client.post(foreign).status_code == 404, name


def test_read_only_views_show_no_write_controls_to_a_viewer(team, incident):
    html = team.client("viewer").get(f"/console/acme/incidents/{incident.code}/").content.decode()
    assert 'action="/console/acme/incidents/' + incident.code + '/update/"' not in html
    html = team.client("commander").get(f"/console/acme/incidents/{incident.code}/").content.decode()
    assert 'action="/console/acme/incidents/' + incident.code + '/update/"' in html


def test_a_user_with_one_page_lands_on_its_dashboard_and_sees_no_other(team, page):
    response = team.client("viewer").get("/console/")
    assert response.status_code == 302
    assert response["Location"] == "/console/acme/"
    html = team.client("viewer").get("/console/acme/").content.decode()
    assert "Globex" not in html
