"""Subscribers through the management API as Statuspage clients drive them: create (double opt-in, or
skipped and audited), list with filters, sorting and 0-based pages, change components, unsubscribe one or
many, reactivate, resend confirmations, counts; commander keys only, and never another page's."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from statuspage.models import AuditEvent
from statuspage.services import SYSTEM
from subscribers.models import Subscriber, SubscriberState
from subscribers.services import subscribe
from tests.conftest import T0

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hook"
# Statuspage's subscriber fields, then ours (the contract test in tests/contract/ holds the same list).
SUBSCRIBER_FIELDS = {
    "id", "mode", "email", "endpoint", "quarantined_at", "purge_at", "components", "created_at",
    "skip_unsubscription_notification", "state", "webhook_format", "confirmed_at",
}  # fmt: skip


@pytest.fixture
def base(page):
    return f"/api/v1/pages/{page.code}/subscribers"


@pytest.fixture
def commander(page, client_for):
    return client_for(page)


def add(page, **kwargs):
    kwargs.setdefault("skip_confirmation", True)
    return subscribe(page=page, actor=SYSTEM, **kwargs)


def quarantine(subscriber):
    Subscriber.objects.filter(pk=subscriber.pk).update(state="quarantined", quarantined_at=timezone.now())


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["email"] or s["endpoint"] for s in response.json()]


# Create ---------------------------------------------------------------------------------------------------


def test_an_email_subscriber_made_by_api_is_asked_to_confirm_by_email(page, commander, base, smtp, worker):
    with worker():
        response = commander.post(base, {"subscriber": {"email": "Ann@Example.com"}}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == SUBSCRIBER_FIELDS
    assert created["mode"] == "email" and created["email"] == "ann@example.com"
    assert created["state"] == "unconfirmed" and created["confirmed_at"] is None
    assert created["endpoint"] is None and created["components"] == [] and "secret" not in created
    assert created["created_at"].endswith(("-08:00", "-07:00"))  # the page's zone
    (mail,) = smtp.to("ann@example.com")
    assert "Confirm" in mail["Subject"] and "/subscriptions/confirm/" in mail.get_content()
    event = AuditEvent.objects.get(action="subscriber.added")
    assert event.actor_label.startswith("API key deploys") and event.after["skip_confirmation"] is False


def test_skipping_confirmation_subscribes_at_once_and_is_audited(
    page, commander, base, smtp, worker, make_component
):
    api = make_component(page, "API")
    with worker():
        response = commander.post(
            base,
            f"email=vip@example.com&skip_confirmation_notification=true&component_ids[]={api.code}",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["state"] == "active" and created["confirmed_at"] is not None
    assert created["components"] == [api.code]
    assert smtp.messages == []
    event = AuditEvent.objects.get(action="subscriber.added", object_id=created["id"])
    assert event.after["skip_confirmation"] is True and event.after["components"] == [api.code]


def test_a_webhooks_secret_is_shown_once_when_it_is_made(page, commander, base):
    response = commander.post(
        base,
        {"subscriber": {"endpoint": HOOK, "email": "ops@example.com", "webhook_format": "slack"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    subscriber = Subscriber.objects.get(code=created["id"])
    assert created["secret"] == subscriber.secret
    assert (created["mode"], created["endpoint"], created["email"]) == ("webhook", HOOK, "ops@example.com")
    assert created["webhook_format"] == "slack" and created["state"] == "active"
    assert "secret" not in commander.get(f"{base}/{created['id']}").json()
    assert all("secret" not in s for s in commander.get(f"{base}?state=all").json())
    again = commander.post(base, {"endpoint": HOOK}, format="json")  # bare fields, an address known
    assert again.status_code == 200 and again.json()["id"] == created["id"] and "secret" not in again.json()
    assert subscriber.secret not in commander.get(f"{base}?state=all").content.decode()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({}, "email"),
        ({"endpoint": "ftp://example.com/x"}, "endpoint"),
        ({"endpoint": "http://10.1.2.3/hook"}, "endpoint"),
        ({"endpoint": HOOK, "email": "nope"}, "email"),
        ({"endpoint": HOOK, "webhook_format": "carrier-pigeon"}, "webhook_format"),
        ({"email": "a@example.com", "component_ids": ["nosuchthing"]}, "component_ids"),
        ({"email": "a@example.com", "phone_number": "5555555"}, "phone_number"),
        (
            {"email": "a@example.com", "skip_confirmation_notification": "maybe"},
            "skip_confirmation_notification",
        ),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(page, commander, base, fields, field):
    response = commander.post(base, {"subscriber": fields}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert (
        Subscriber.objects.count() == 0 and not AuditEvent.objects.filter(action="subscriber.added").exists()
    )


def test_another_pages_component_is_no_such_component(pages, client_for, make_component):
    page, other = pages
    theirs = make_component(other, "Theirs")
    response = client_for(page).post(
        f"/api/v1/pages/{page.code}/subscribers",
        {"subscriber": {"email": "a@example.com", "component_ids": [theirs.code]}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"component_ids": [f"No such component on this page: {theirs.code}."]}
    assert Subscriber.objects.count() == 0


# Read -----------------------------------------------------------------------------------------------------


@pytest.fixture
def crowd(page, other_page):
    """Subscribers in every state, made a minute apart, and one of the other page's."""
    made = {}
    with time_machine.travel(T0, tick=False) as clock:
        for name, kwargs in [
            ("ann", {"email": "ann@example.com"}),
            ("bob", {"email": "bob@example.com", "skip_confirmation": False}),
            ("hook", {"endpoint": HOOK}),
            ("sick", {"endpoint": "http://127.0.0.1:9/sick"}),
            ("gone", {"email": "gone@example.com"}),
            ("zed", {"email": "zed@example.com"}),
        ]:
            made[name] = add(page, **kwargs)
            clock.shift(timedelta(minutes=1))
    quarantine(made["sick"])
    Subscriber.objects.filter(pk=made["gone"].pk).update(state="unsubscribed", unsubscribed_at=timezone.now())
    add(other_page, email="secret@example.com")
    return made


def test_the_list_defaults_to_active_and_filters_by_type_state_and_text(page, commander, base, crowd):
    assert ids(commander.get(base)) == ["ann@example.com", HOOK, "zed@example.com"]  # primary, ascending
    assert ids(commander.get(f"{base}?state=unconfirmed")) == ["bob@example.com"]
    assert ids(commander.get(f"{base}?state=quarantined")) == ["http://127.0.0.1:9/sick"]
    assert ids(commander.get(f"{base}?state=unsubscribed")) == ["gone@example.com"]
    everyone = ids(commander.get(f"{base}?state=all"))
    assert sorted(everyone) == sorted(
        ["ann@example.com", "bob@example.com", HOOK, "http://127.0.0.1:9/sick", "zed@example.com"]
    )
    assert ids(commander.get(f"{base}?type=webhook&state=all")) == [HOOK, "http://127.0.0.1:9/sick"]
    assert ids(commander.get(f"{base}?type=email")) == ["ann@example.com", "zed@example.com"]
    assert ids(commander.get(f"{base}?type=sms&state=all")) == []  # Statuspage's type, none of ours
    assert ids(commander.get(f"{base}?q=ZED&state=all")) == ["zed@example.com"]
    assert ids(commander.get(f"{base}?q=127.0.0.1&state=all")) == [HOOK, "http://127.0.0.1:9/sick"]
    assert ids(commander.get(f"{base}?q=secret&state=all")) == []  # the other page's
    assert ids(commander.get(f"{base}.json?state=all&q=example")) == [
        "ann@example.com",
        "bob@example.com",
        "zed@example.com",
    ]


def test_the_list_sorts_and_pages_from_zero(page, commander, base, crowd):
    by_date = ids(commander.get(f"{base}?state=all&sort_field=created_at&sort_direction=desc"))
    assert by_date == [
        "zed@example.com",
        "http://127.0.0.1:9/sick",
        HOOK,
        "bob@example.com",
        "ann@example.com",
    ]
    assert (
        ids(commander.get(f"{base}?state=all&sort_field=primary&sort_direction=desc"))[0] == "zed@example.com"
    )
    assert ids(commander.get(f"{base}?state=all&sort_field=email"))[-3:] == [
        "ann@example.com",
        "bob@example.com",
        "zed@example.com",
    ]  # webhooks without an email first
    assert ids(commander.get(f"{base}?state=all&sort_field=quarantined_at"))[0] == "http://127.0.0.1:9/sick"
    assert ids(commander.get(f"{base}?state=all&q=b&sort_field=relevance"))[0] == "bob@example.com"
    pages = [
        ids(commander.get(f"{base}?state=all&sort_field=created_at&per_page=2&page={n}")) for n in range(4)
    ]
    assert pages == [
        ["ann@example.com", "bob@example.com"],
        [HOOK, "http://127.0.0.1:9/sick"],
        ["zed@example.com"],
        [],
    ]
    assert ids(commander.get(f"{base}?state=all&sort_field=created_at&limit=1")) == ["ann@example.com"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=everything", "state"),
        ("type=pigeon", "type"),
        ("sort_field=shoe_size", "sort_field"),
        ("sort_field=relevance", "sort_field"),
        ("sort_direction=up", "sort_direction"),
        ("page=first", "page"),
        ("per_page=many", "per_page"),
    ],
)
def test_bad_list_parameters_are_field_errors(page, commander, base, query, field):
    response = commander.get(f"{base}?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_count_histogram_and_the_unsubscribed(page, commander, base, crowd):
    assert commander.get(f"{base}/count").json() == {
        "email": 2, "sms": 0, "webhook": 1, "slack": 0, "integration_partner": 0,
    }  # fmt: skip
    assert commander.get(f"{base}/count?state=all").json()["email"] == 3
    assert commander.get(f"{base}/count.json?state=quarantined&type=webhook").json()["webhook"] == 1
    assert commander.get(f"{base}/count?type=webhook").json()["email"] == 0
    assert commander.get(f"{base}/count?state=sleepy").status_code == 400
    histogram = commander.get(f"{base}/histogram_by_state").json()
    assert histogram["email"] == {
        "active": 2,
        "unconfirmed": 1,
        "quarantined": 0,
        "total": 3,
        "unsubscribed": 1,
    }
    assert histogram["webhook"] == {
        "active": 1,
        "unconfirmed": 0,
        "quarantined": 1,
        "total": 2,
        "unsubscribed": 0,
    }
    assert histogram["sms"]["total"] == 0
    Subscriber.objects.filter(pk=crowd["zed"].pk).update(state="unsubscribed", unsubscribed_at=timezone.now())
    assert ids(commander.get(f"{base}/unsubscribed")) == [
        "zed@example.com",
        "gone@example.com",
    ]  # newest first
    assert ids(commander.get(f"{base}/unsubscribed?per_page=1&page=1")) == ["gone@example.com"]
    # These names sit where a subscriber's id goes: other methods there find no such subscriber.
    assert commander.patch(f"{base}/count", {}, format="json").status_code == 404
    assert commander.delete(f"{base}/unsubscribed").status_code == 404


# Change ---------------------------------------------------------------------------------------------------


def test_get_change_components_unsubscribe_and_purge_one(page, commander, base, make_component, other_page):
    api, web = make_component(page, "API"), make_component(page, "Web")
    foreign = make_component(other_page, "Foreign")
    sub = add(page, email="ann@example.com")
    url = f"{base}/{sub.code}"
    assert commander.get(url).json()["components"] == []

    response = commander.patch(url, {"subscriber": {"component_ids": [api.code, web.code]}}, format="json")
    assert response.status_code == 200, response.content
    assert sorted(response.json()["components"]) == sorted([api.code, web.code])
    event = AuditEvent.objects.get(action="subscriber.components_set")
    assert event.after == {"components": sorted([api.code, web.code])}
    response = commander.put(
        url, f"subscriber[component_ids][]={web.code}", content_type="application/x-www-form-urlencoded"
    )
    assert response.json()["components"] == [web.code]
    assert commander.patch(url, {"component_ids": []}, format="json").json()["components"] == []  # whole page

    response = commander.patch(url, {"subscriber": {"component_ids": [foreign.code]}}, format="json")
    assert response.status_code == 400 and "component_ids" in response.json()["errors"]
    response = commander.patch(url, {"subscriber": {"email": "someone@example.com"}}, format="json")
    assert response.status_code == 400 and "email" in response.json()["errors"]
    assert (
        commander.patch(url, {"subscriber": {"email": "ANN@example.com"}}, format="json").status_code == 200
    )

    response = commander.delete(url)
    assert response.status_code == 200
    assert response.json()["state"] == "unsubscribed" and response.json()["id"] == sub.code
    assert Subscriber.objects.get(pk=sub.pk).state == "unsubscribed"  # the row stays: never mailed again
    assert AuditEvent.objects.filter(action="subscriber.unsubscribed", object_id=sub.code).count() == 1

    assert commander.delete(f"{url}?purge=perhaps").status_code == 400
    assert commander.delete(f"{url}?purge=true").status_code == 204
    assert not Subscriber.objects.filter(pk=sub.pk).exists()
    assert AuditEvent.objects.filter(action="subscriber.removed", object_id=sub.code).exists()
    assert commander.get(url).status_code == 404


def test_resend_confirmation_to_one(page, commander, base, smtp, worker, setup_committed):
    with time_machine.travel(T0, tick=False) as clock:
        with worker():
            bob = subscribe(page=page, email="bob@example.com")  # the public form: confirmation sent
        hook = add(page, endpoint=HOOK)
        ann = add(page, email="ann@example.com")
        assert len(smtp.to("bob@example.com")) == 1
        url = f"{base}/{bob.code}/resend_confirmation"
        response = commander.post(url)
        assert response.status_code == 400 and "less than 10 minutes" in response.json()["message"]
        clock.shift(timedelta(minutes=11))
        with worker():
            response = commander.post(url)
        assert response.status_code == 202 and response.json() == {"affected": 1}
        assert len(smtp.to("bob@example.com")) == 2
        assert AuditEvent.objects.filter(action="subscriber.confirmation_resent", object_id=bob.code).exists()
        assert "webhook" in commander.post(f"{base}/{hook.code}/resend_confirmation").json()["message"]
        assert "active" in commander.post(f"{base}/{ann.code}/resend_confirmation.json").json()["message"]


# Bulk -----------------------------------------------------------------------------------------------------


def test_bulk_unsubscribe_of_all_with_a_type_touches_only_that_type(page, other_page, commander, base):
    ann = add(page, email="ann@example.com")
    bob = add(page, email="bob@example.com", skip_confirmation=False)
    hook = add(page, endpoint=HOOK)
    theirs = add(other_page, endpoint=HOOK)

    response = commander.post(f"{base}/unsubscribe", {"subscribers": "all", "type": "webhook"}, format="json")
    assert response.status_code == 200 and response.json() == {"affected": 1}
    states = lambda: {s.code: s.state for s in Subscriber.objects.all()}  # noqa: E731
    assert states() == {
        ann.code: "active",
        bob.code: "unconfirmed",
        hook.code: "unsubscribed",
        theirs.code: "active",
    }

    # "all" takes the active ones unless `state` says otherwise, as on Statuspage.
    assert commander.post(f"{base}/unsubscribe", {"subscribers": "all"}, format="json").json() == {
        "affected": 1
    }
    assert states()[ann.code] == "unsubscribed" and states()[bob.code] == "unconfirmed"
    response = commander.post(
        f"{base}/unsubscribe.json",
        "subscribers=all&state=all",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.json() == {"affected": 1}
    assert states() == {
        ann.code: "unsubscribed", bob.code: "unsubscribed", hook.code: "unsubscribed", theirs.code: "active",
    }  # fmt: skip
    audited = AuditEvent.objects.filter(action="subscriber.unsubscribed", page=page)
    assert sorted(audited.values_list("object_id", flat=True)) == sorted([ann.code, bob.code, hook.code])
    assert audited.filter(object_id=bob.code).get().before == {"state": "unconfirmed"}
    assert commander.post(
        f"{base}/unsubscribe", {"subscribers": "all", "state": "all"}, format="json"
    ).json() == {"affected": 0}


def test_bulk_unsubscribe_by_ids_in_any_state_form_encoded(page, commander, base):
    ann = add(page, email="ann@example.com")
    bob = add(page, email="bob@example.com", skip_confirmation=False)
    zed = add(page, email="zed@example.com")
    response = commander.post(
        f"{base}/unsubscribe",
        f"subscribers[]={ann.code}&subscribers[]={bob.code}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.json() == {"affected": 2}
    assert Subscriber.objects.get(pk=zed.pk).state == "active"
    assert set(Subscriber.objects.filter(state="unsubscribed").values_list("code", flat=True)) == {
        ann.code,
        bob.code,
    }
    zed_only = {"subscribers": [zed.code], "state": "unconfirmed"}  # given with ids, `state` filters them
    assert commander.post(f"{base}/unsubscribe", zed_only, format="json").json() == {"affected": 0}


@pytest.mark.parametrize("action", ["unsubscribe", "reactivate", "resend_confirmation"])
def test_bulk_input_errors(page, other_page, commander, base, action):
    mine = add(page, email="ann@example.com")
    theirs = add(other_page, email="bob@example.com")
    url = f"{base}/{action}"
    for payload, field in [
        ({"subscribers": [f"id{n}" for n in range(101)]}, "subscribers"),
        ({"subscribers": [mine.code, "nosuchone"]}, "subscribers"),
        ({"subscribers": [theirs.code]}, "subscribers"),
        ({"subscribers": []}, "subscribers"),
        ({"subscribers": "some"}, "subscribers"),
        ({}, "subscribers"),
        ({"subscribers": "all", "type": "pigeon"}, "type"),
        ({"subscribers": "all", "state": "sleepy"}, "state"),
    ]:
        response = commander.post(url, payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert field in response.json()["errors"], payload
    message = commander.post(url, {"subscribers": [theirs.code]}, format="json").json()["message"]
    assert theirs.code in message and "No such subscriber on this page" in message
    assert Subscriber.objects.get(pk=theirs.pk).state == "active"
    assert commander.get(url).status_code == 404  # as `subscribers/{id}`: no subscriber has that id


def test_bulk_reactivate_and_resend_confirmations(page, other_page, commander, base, smtp, worker):
    sick = add(page, endpoint=HOOK)
    quarantine(sick)
    theirs = add(other_page, endpoint=HOOK)
    quarantine(theirs)
    with worker():
        bob = subscribe(page=page, email="bob@example.com", skip_confirmation=False)
        cid = subscribe(page=page, email="cid@example.com", skip_confirmation=False)
    add(page, email="ann@example.com")  # active: nothing to confirm
    assert len(smtp.messages) == 2

    response = commander.post(f"{base}/reactivate", {"subscribers": "all", "type": "webhook"}, format="json")
    assert response.status_code == 200 and response.json() == {"affected": 1}
    sick.refresh_from_db()
    assert (sick.state, sick.quarantined_at, sick.failures) == ("active", None, 0)
    assert Subscriber.objects.get(pk=theirs.pk).state == "quarantined"
    assert AuditEvent.objects.filter(action="subscriber.reactivated", object_id=sick.code).exists()

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        with worker():
            response = commander.post(f"{base}/resend_confirmation", {"subscribers": "all"}, format="json")
        assert response.status_code == 202 and response.json() == {"affected": 2}
        assert [m["X-Envelope-To"] for m in smtp.messages[2:]] == sorted(
            ["bob@example.com", "cid@example.com"]
        )
        # Asked again at once: nobody is mailed twice within ten minutes.
        again = commander.post(
            f"{base}/resend_confirmation", {"subscribers": [bob.code, cid.code]}, format="json"
        )
        assert again.json() == {"affected": 0}
    assert len(smtp.messages) == 4


# Who may ---------------------------------------------------------------------------------------------------


def test_subscribers_are_for_commander_keys_not_viewers(page, client_for, base):
    sub = add(page, email="ann@example.com")
    viewer = client_for(page, "viewer")
    for path in ("", "/count", "/histogram_by_state", "/unsubscribed", f"/{sub.code}"):
        response = viewer.get(base + path)
        assert response.status_code == 403, path
        assert "ann@example.com" not in response.content.decode()
    assert viewer.post(base, {"email": "b@example.com"}, format="json").status_code == 403
    assert viewer.delete(f"{base}/{sub.code}").status_code == 403
    assert viewer.post(f"{base}/unsubscribe", {"subscribers": "all"}, format="json").status_code == 403
    assert Subscriber.objects.get(pk=sub.pk).state == "active" and Subscriber.objects.count() == 1
    assert client_for(page, "owner").get(base).status_code == 200


def test_another_pages_subscribers_are_not_found(pages, client_for):
    page, other = pages
    theirs = add(other, email="secret@example.com")
    client = client_for(page)
    url = f"/api/v1/pages/{page.code}/subscribers/{theirs.code}"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"component_ids": []}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.post(f"{url}/resend_confirmation").status_code == 404
    assert client.get(f"/api/v1/pages/{other.code}/subscribers").status_code == 404  # not the key's page
    assert (
        "secret@example.com"
        not in client.get(f"/api/v1/pages/{page.code}/subscribers?state=all").content.decode()
    )
    assert Subscriber.objects.get(pk=theirs.pk).state == SubscriberState.ACTIVE
