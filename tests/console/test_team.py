"""Signing in, password reset, sessions, open sign-up, the team (invite, role, remove), page settings
and the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from statuspage.models import AuditEvent, Membership, Page
from statuspage.services import SYSTEM, record_audit
from tests.console.conftest import T


def link_in(mail) -> str:
    return re.search(r"http://testserver(/console/\S+)", mail.get_payload()).group(1)


# Signing in ---------------------------------------------------------------------------------------------


def test_sign_in_lands_on_the_dashboard_and_wrong_passwords_are_refused(team, page):
    client = Client()
    response = client.post("/console/login/", {"username": "viewer", "password": "nope"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()
    response = client.post(
        "/console/login/?next=/console/",
        {"username": "viewer", "password": "correct horse battery"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/console/acme/"


def test_a_member_of_several_pages_chooses_among_only_theirs(team, page, other_page, make_component):
    from statuspage.services import add_member, create_page

    third = create_page(actor=SYSTEM, name="Initech", slug="initech")
    add_member(actor=SYSTEM, page=other_page, user=team.viewer, role="viewer")
    html = team.client("viewer").get("/console/").content.decode()
    assert "Acme" in html and "Globex" in html and third.name not in html


def test_sessions_expire(team, settings):
    client = team.client("viewer")
    assert client.get("/console/acme/").status_code == 200
    with time_machine.travel(timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)):
        response = client.get("/console/acme/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_password_reset_by_email(team, smtp, worker):
    client = Client()
    response = client.post("/console/password-reset/", {"email": "viewer@example.com"})
    assert response.status_code == 302
    (mail,) = smtp.to("viewer@example.com")
    link = link_in(mail)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
    )
    assert response.status_code == 302
    assert Client().login(username="viewer", password="a new long passphrase 42")


def test_password_reset_never_says_whether_an_address_exists(team, smtp):
    known = Client().post("/console/password-reset/", {"email": "viewer@example.com"})
    unknown = Client().post("/console/password-reset/", {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(smtp.messages) == 1


# Open sign-up -------------------------------------------------------------------------------------------


def test_sign_up_is_closed_unless_the_installation_allows_it(db):
    assert Client().get("/console/signup/").status_code == 404


def test_sign_up_creates_an_account_a_page_and_its_components(db, settings):
    settings.ALLOW_SIGNUP = True
    client = Client()
    response = client.post(
        "/console/signup/",
        {
            "username": "founder",
            "email": "founder@example.com",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
            "page_name": "Hooli",
            "page_slug": "hooli",
            "time_zone": "Europe/Berlin",
            "components": "API\nDashboard\n\n  Website  ",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/console/hooli/"
    page = Page.objects.get(slug="hooli")
    assert page.time_zone == "Europe/Berlin"
    assert [c.name for c in page.components.order_by("position")] == ["API", "Dashboard", "Website"]
    assert Membership.objects.get(page=page).role == "owner"
    assert client.get("/console/hooli/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"page_slug": "acme"}, "page_slug"),
        ({"page_slug": "console"}, "page_slug"),
        ({"page_slug": "Not A Slug"}, "page_slug"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"password2": "different"}, "password2"),
        ({"username": "viewer"}, "username"),
        ({"email": "no"}, "email"),
        ({"page_name": ""}, "page_name"),
    ],
)
def test_sign_up_with_bad_input_writes_nothing(team, page, settings, change, field):
    settings.ALLOW_SIGNUP = True
    data = {
        "username": "founder",
        "email": "founder@example.com",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
        "page_name": "Hooli",
        "page_slug": "hooli",
        "time_zone": "Europe/Berlin",
        "components": "API",
    }
    data.update(change)
    users, pages = User.objects.count(), Page.objects.count()
    response = Client().post("/console/signup/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert (User.objects.count(), Page.objects.count()) == (users, pages)


# The team -----------------------------------------------------------------------------------------------


def test_an_owner_invites_by_email_and_the_invitee_sets_a_password(team, page, smtp, worker):
    owner = team.client("owner")
    with worker():
        response = owner.post("/console/acme/team/", {"email": "New.Person@Example.com", "role": "commander"})
    assert response.status_code == 302
    membership = Membership.objects.get(page=page, user__email="new.person@example.com")
    assert membership.role == "commander"
    (mail,) = smtp.to("new.person@example.com")
    assert "Acme" in mail["Subject"]
    client = Client()
    form = client.get(link_in(mail), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "my first passphrase 7", "new_password2": "my first passphrase 7"},
    )
    assert client.login(username="new.person@example.com", password="my first passphrase 7")
    assert client.get("/console/acme/incidents/new/").status_code == 200


def test_inviting_an_existing_user_adds_them_without_a_new_account(team, page, other_page, smtp, worker):
    users = User.objects.count()
    with worker():
        team.client("owner").post("/console/acme/team/", {"email": "outsider@example.com", "role": "viewer"})
    assert User.objects.count() == users
    assert Membership.objects.get(page=page, user=team.outsider).role == "viewer"
    (mail,) = smtp.to("outsider@example.com")
    assert "http://testserver/console/" in mail.get_payload()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address", "role": "viewer"}, "email"),
        ({"email": "viewer@example.com", "role": "viewer"}, "email"),
        ({"email": "x@example.com", "role": "emperor"}, "role"),
    ],
)
def test_bad_invitations_get_field_errors_and_write_nothing(team, page, smtp, worker, data, field):
    before = (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    with worker():
        response = team.client("owner").post("/console/acme/team/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == before
    assert smtp.messages == []


def test_an_owner_changes_and_removes_roles_and_the_page_keeps_an_owner(team, page):
    owner = team.client("owner")
    viewer = Membership.objects.get(page=page, user=team.viewer)
    owner.post(f"/console/acme/team/{viewer.pk}/", {"role": "commander"})
    viewer.refresh_from_db()
    assert viewer.role == "commander"
    owner.post(f"/console/acme/team/{viewer.pk}/", {"role": "commander", "remove": "1"})
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert team.client("viewer").get("/console/acme/").status_code == 404

    me = Membership.objects.get(page=page, user=team.owner)
    response = owner.post(f"/console/acme/team/{me.pk}/", {"role": "viewer"}, follow=True)
    assert "at least one owner" in response.content.decode()
    owner.post(f"/console/acme/team/{me.pk}/", {"role": "owner", "remove": "1"})
    me.refresh_from_db()
    assert me.role == "owner"
    actions = list(
        AuditEvent.objects.filter(page=page, object_type="membership").values_list("action", flat=True)
    )
    assert "member.removed" in actions


# Settings -----------------------------------------------------------------------------------------------


def settings_form(client):
    form = client.get("/console/acme/settings/").context["form"]
    return {k: v for k, v in ((n, form[n].value()) for n in form.fields) if v not in (None, False)}


def test_an_owner_sets_the_cadence_and_the_change_is_audited(team, page):
    owner = team.client("owner")
    data = settings_form(owner) | {
        "update_cadence_minutes": "20",
        "reminder_lead_minutes": "3",
        "monitoring_cadence_minutes": "45",
        "show_next_update": "on",
        "escalation_webhook_url": "hooks.example.com/escalate",
    }
    response = owner.post("/console/acme/settings/", data)
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.update_cadence_minutes, page.reminder_lead_minutes, page.monitoring_cadence_minutes) == (
        20,
        3,
        45,
    )
    assert page.show_next_update
    assert page.escalation_webhook_url == "https://hooks.example.com/escalate"
    event = AuditEvent.objects.filter(page=page, action="page.updated").latest("created_at")
    assert event.before["update_cadence_minutes"] == 30 and event.after["update_cadence_minutes"] == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"update_cadence_minutes": "0"}, "update_cadence_minutes"),
        ({"update_cadence_minutes": "thirty"}, "update_cadence_minutes"),
        ({"reminder_lead_minutes": "-1"}, "reminder_lead_minutes"),
        ({"reminder_lead_minutes": "30"}, "reminder_lead_minutes"),
        ({"update_cadence_minutes": "100000"}, "update_cadence_minutes"),
        ({"time_zone": "Nowhere/Land"}, "time_zone"),
        ({"slug": "globex"}, "slug"),
        ({"escalation_webhook_url": "ftp://x"}, "escalation_webhook_url"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_settings_get_field_errors_and_change_nothing(team, page, other_page, change, field):
    owner = team.client("owner")
    data = settings_form(owner) | change
    before = Page.objects.filter(pk=page.pk).values().get()
    audits = AuditEvent.objects.count()
    response = owner.post("/console/acme/settings/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Page.objects.filter(pk=page.pk).values().get() == before
    assert AuditEvent.objects.count() == audits


# Audit log ----------------------------------------------------------------------------------------------


def test_the_audit_log_filters_by_person_object_and_date_and_shows_only_this_page(team, page, other_page):
    with time_machine.travel(T, tick=False):
        record_audit(page=page, actor=SYSTEM, action="component.created", obj=page, after={"n": 1})
    with time_machine.travel(T + timedelta(days=3), tick=False):
        from statuspage.services import Actor

        record_audit(page=page, actor=Actor.of(team.owner), action="page.updated", obj=page, after={"n": 2})
    record_audit(page=other_page, actor=SYSTEM, action="page.updated", obj=other_page, after={"secret": 1})
    client = team.client("viewer")

    def rows(query):
        return list(client.get("/console/acme/audit/" + query).context["events"])

    everything = rows("")
    assert all(e.page_id == page.pk for e in everything)
    assert [e.actor_label for e in rows("?person=owner")] == ["owner"]
    assert {e.object_type for e in rows("?type=page")} == {"page"}
    assert rows(f"?object={other_page.code}") == []
    # Dates are days in the page's zone (Los Angeles): T is 08:00 there on Mar 10.
    assert [e.after for e in rows("?from=2026-03-10&to=2026-03-10")] == [{"n": 1}]
    assert [e.after for e in rows("?from=2026-03-11&to=2026-03-14")] == [{"n": 2}]
    assert "secret" not in client.get("/console/acme/audit/").content.decode()


def test_the_audit_log_is_append_only(page):
    event = AuditEvent.objects.filter(page=page).first()
    event.action = "something.else"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(page=page).update(action="x")
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(page=page).delete()
