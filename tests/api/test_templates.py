"""Incident templates through the management API: Statuspage's list and create (`template{...}`), and our
get, update and delete; the console's service does every write."""

from __future__ import annotations

import pytest

from incidents.models import IncidentTemplate
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM

pytestmark = pytest.mark.django_db

STATUSPAGE_FIELDS = {
    "id", "components", "name", "title", "body", "group_id", "update_status", "should_tweet",
    "should_send_notifications",
}  # fmt: skip


@pytest.fixture
def base(page):
    return f"/api/v1/pages/{page.code}/incident_templates"


def test_create_list_get_update_and_delete_a_template(page, client_for, base, make_component, make_group):
    client = client_for(page)
    api = make_component(page, "API", group=make_group(page, "Core"))
    web = make_component(page, "Web")
    response = client.post(
        base,
        {
            "template": {
                "name": "DB failover",
                "title": "Database failover on $page",
                "body": "We are failing over the primary database.",
                "update_status": "identified",
                "should_tweet": True,
                "should_send_notifications": False,
                "component_ids": [api.code, web.code],
                "group_id": "tplgroup1",
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == STATUSPAGE_FIELDS
    assert (created["name"], created["title"], created["update_status"]) == (
        "DB failover",
        "Database failover on $page",
        "identified",
    )
    assert created["should_tweet"] is False and created["should_send_notifications"] is False
    assert created["group_id"] is None  # template groups are not offered
    full = {c["id"]: c for c in created["components"]}
    assert set(full) == {api.code, web.code}
    assert full[api.code]["group_id"] is not None and full[api.code]["page_id"] == page.code
    assert {"status", "position", "automation_email", "is_public"} <= set(full[api.code])
    template = IncidentTemplate.objects.get(code=created["id"])
    assert template.status == "identified" and template.deliver_notifications is False
    assert AuditEvent.objects.filter(action="template.created", object_id=template.code).exists()

    assert [t["id"] for t in client.get(base).json()] == [created["id"]]
    url = f"{base}/{created['id']}"
    assert client.get(f"{url}.json").json() == created

    # PATCH changes only what it names; the components stay unless component_ids is given.
    response = client.patch(
        url, {"template": {"title": "Failover", "component_status": "major_outage"}}, format="json"
    )
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["title"] == "Failover" and changed["body"] == created["body"]
    template.refresh_from_db()
    assert template.component_status == "major_outage" and template.body == created["body"]
    assert {c["id"] for c in changed["components"]} == {api.code, web.code}
    response = client.put(
        url,
        f"template[component_ids][]={web.code}&template[should_send_notifications]=true",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert [c["id"] for c in response.json()["components"]] == [web.code]
    assert response.json()["should_send_notifications"] is True
    assert AuditEvent.objects.filter(action="template.updated", object_id=template.code).count() == 2

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert not IncidentTemplate.objects.exists()
    assert AuditEvent.objects.filter(action="template.deleted", object_id=template.code).exists()


def test_bare_and_form_encoded_bodies(page, client_for, base):
    client = client_for(page)
    response = client.post(base, {"name": "Bare", "title": "T", "body": "B"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["update_status"] == "investigating" and response.json()["components"] == []
    response = client.post(
        base,
        "template[name]=Form&template[title]=Slow&template[body]=Looking&template[update_status]=monitoring",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert response.json()["update_status"] == "monitoring"
    assert [t["name"] for t in client.get(f"{base}?per_page=1&page=2").json()] == ["Form"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "T", "body": "B"}, "name"),
        ({"name": "N", "body": "B"}, "title"),
        ({"name": "N", "title": "T"}, "body"),
        ({"name": "N", "title": "T", "body": "B", "update_status": "exploded"}, "update_status"),
        ({"name": "N", "title": "T", "body": "B", "component_ids": ["nosuchone"]}, "component_ids"),
        ({"name": "N", "title": "T", "body": "B", "component_status": "on_fire"}, "component_status"),
        ({"name": "N" * 101, "title": "T", "body": "B"}, "name"),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(page, client_for, base, fields, field):
    response = client_for(page).post(base, {"template": fields}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not IncidentTemplate.objects.exists()


def test_a_name_taken_and_another_pages_component_are_refused(pages, client_for, make_component):
    from incidents.services import save_template

    page, other = pages
    foreign = make_component(other, "Foreign")
    save_template(actor=SYSTEM, page=page, name="Taken", title="T", body="B")
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/incident_templates"
    response = client.post(base, {"template": {"name": "Taken", "title": "T", "body": "B"}}, format="json")
    assert response.status_code == 400 and "already exists" in response.json()["message"]
    response = client.post(
        base,
        {"template": {"name": "X", "title": "T", "body": "B", "component_ids": [foreign.code]}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "component_ids": [f"No such component on this page: {foreign.code}."]
    }
    assert IncidentTemplate.objects.count() == 1


def test_another_pages_templates_are_not_found_and_viewers_only_read(pages, client_for):
    from incidents.services import save_template

    page, other = pages
    theirs = save_template(actor=SYSTEM, page=other, name="Theirs", title="T", body="B")
    mine = save_template(actor=SYSTEM, page=page, name="Mine", title="T", body="B")
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/incident_templates"
    assert [t["id"] for t in client.get(base).json()] == [mine.code]
    for method in ("get", "patch", "put", "delete"):
        assert getattr(client, method)(f"{base}/{theirs.code}").status_code == 404, method
    assert IncidentTemplate.objects.filter(pk=theirs.pk).exists()

    viewer = client_for(page, "viewer")
    assert viewer.get(base).status_code == 200 and viewer.get(f"{base}/{mine.code}").status_code == 200
    assert (
        viewer.post(base, {"template": {"name": "V", "title": "T", "body": "B"}}, format="json").status_code
        == 403
    )
    assert viewer.patch(f"{base}/{mine.code}", {"template": {"title": "X"}}, format="json").status_code == 403
    assert viewer.delete(f"{base}/{mine.code}").status_code == 403
    mine.refresh_from_db()
    assert mine.title == "T" and IncidentTemplate.objects.count() == 2
