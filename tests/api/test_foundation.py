"""The management API's ground rules: keys, tenancy, roles, the error shape, wrapped and form bodies, the
optional .json suffix, and the per-key rate limit."""

from __future__ import annotations

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from components.models import Component
from statuspage.models import APIKey, AuditEvent
from statuspage.services import SYSTEM, create_api_key, revoke_api_key

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_only_as_a_digest_and_shown_once(page):
    _, raw = create_api_key(actor=SYSTEM, page=page, name="CI", role="commander")
    assert raw.startswith("sp_") and len(raw) > 40
    row = APIKey.objects.get()
    assert raw not in (row.digest, row.prefix) and raw.startswith(row.prefix)
    assert all(raw not in str(v) for v in APIKey.objects.values().get().values())
    assert AuditEvent.objects.filter(action="api_key.created", after__prefix=row.prefix).exists()


@pytest.mark.parametrize(
    "how",
    [
        lambda c, raw: c.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}"),
        lambda c, raw: c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}"),
        None,  # ?api_key=
    ],
    ids=["oauth", "bearer", "query"],
)
def test_the_key_is_accepted_as_statuspage_accepts_it(page, make_key, how):
    raw = make_key(page)
    client = APIClient()
    url = f"/api/v1/pages/{page.code}.json"
    if how is None:
        url += f"?api_key={raw}"
    else:
        how(client, raw)
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == page.code
    assert APIKey.objects.get().last_used_at is not None


def test_no_key_bad_key_revoked_key_and_expired_key_get_401_json(page):
    key, raw = create_api_key(actor=SYSTEM, page=page, name="old", role="owner")
    url = f"/api/v1/pages/{page.code}"
    client = APIClient()
    response = client.get(url)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "message" in response.json()
    client.credentials(HTTP_AUTHORIZATION="OAuth sp_not-a-key")
    assert client.get(url).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    assert client.get(url).status_code == 200
    revoke_api_key(actor=SYSTEM, key=key)
    response = client.get(url)
    assert response.status_code == 401 and "revoked" in response.json()["message"]
    _, soon = create_api_key(
        actor=SYSTEM,
        page=page,
        name="t",
        role="owner",
        expires_at=timezone.now() + timezone.timedelta(hours=1),
    )
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {soon}")
    assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=2)):
        assert client.get(url).status_code == 401


def test_a_key_of_one_page_gets_404_on_another(pages, client_for, make_component):
    page, other = pages
    theirs = make_component(other, "Their API")
    client = client_for(page, "owner")
    for url in (
        f"/api/v1/pages/{other.code}",
        f"/api/v1/pages/{other.code}/components",
        f"/api/v1/pages/{other.code}/components/{theirs.code}",
        f"/api/v1/pages/{page.code}/components/{theirs.code}",  # their object under our page
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"message": "No such page."} or "No such" in response.json()["message"]
    assert (
        client.patch(f"/api/v1/pages/{page.code}/components/{theirs.code}", {"name": "x"}).status_code == 404
    )
    assert Component.objects.get(pk=theirs.pk).name == "Their API"
    listed = client.get("/api/v1/pages").json()
    assert [p["id"] for p in listed] == [page.code]


def test_roles_viewer_reads_commander_writes_owner_configures(page, client_for):
    viewer, commander, owner = (client_for(page, r) for r in ("viewer", "commander", "owner"))
    components = f"/api/v1/pages/{page.code}/components"
    assert viewer.get(components).status_code == 200
    assert viewer.post(components, {"component": {"name": "API"}}, format="json").status_code == 403
    assert commander.post(components, {"component": {"name": "API"}}, format="json").status_code == 201
    assert (
        commander.patch(f"/api/v1/pages/{page.code}", {"page": {"name": "X"}}, format="json").status_code
        == 403
    )
    response = owner.patch(f"/api/v1/pages/{page.code}", {"page": {"name": "Acme Cloud"}}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Acme Cloud"
    assert AuditEvent.objects.filter(action="page.updated", actor_label__startswith="API key").exists()


def test_validation_errors_are_400_with_a_message_and_field_errors_and_write_nothing(page, client_for):
    client = client_for(page)
    url = f"/api/v1/pages/{page.code}/components"
    response = client.post(url, {"component": {"name": "", "status": "on_fire"}}, format="json")
    assert response.status_code == 400
    data = response.json()
    assert set(data["errors"]) == {"name", "status"}
    assert "status" in data["message"]
    assert Component.objects.count() == 0
    for bad in ('{"component": ', "[1, 2]", '{"component": 5}'):
        response = client.generic("POST", url, bad, content_type="application/json")
        assert response.status_code == 400, bad
        assert "message" in response.json()
    assert Component.objects.count() == 0


def test_form_encoded_bodies_in_statuspages_bracket_notation(page, client_for, make_component, make_group):
    client = client_for(page)
    url = f"/api/v1/pages/{page.code}/components"
    response = client.post(
        url,
        "component[name]=Search&component[status]=degraded_performance",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "degraded_performance"
    a, b = make_component(page, "A"), make_component(page, "B")
    response = client.post(
        f"/api/v1/pages/{page.code}/component-groups",
        f"component_group[name]=Core&component_group[components][]={a.code}&component_group[components][]={b.code}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert response.json()["components"] == [a.code, b.code]


def test_the_json_suffix_is_optional_and_unknown_paths_answer_json(page, client_for):
    client = client_for(page)
    assert client.get(f"/api/v1/pages/{page.code}/components.json").status_code == 200
    assert client.get(f"/api/v1/pages/{page.code}/components").status_code == 200
    response = client.get(f"/api/v1/pages/{page.code}/nothing-here")
    assert response.status_code == 404 and response.json() == {"message": "Not found."}
    # A path with a newline in it too (found by schemathesis).
    response = client.get(f"/api/v1/pages/{page.code}/components/x%0Ay")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    # Writes to a wrong path too: a 404 in JSON, never Django's CSRF page (found by schemathesis).
    strict = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"])
    for method in ("put", "patch", "delete", "post"):
        response = getattr(strict, method)(f"/api/v1/pages/{page.code}/components/not,an,id")
        assert response.status_code == 404, method
        assert response["Content-Type"] == "application/json"


def test_bodies_too_big_or_with_too_many_fields_answer_json(page, client_for, settings):
    client = client_for(page)
    url = f"/api/v1/pages/{page.code}/components"
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    form = "&".join(f"component[f{i}]=x" for i in range(20))
    response = client.post(url, form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "too many fields" in response.json()["message"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(url, {"component": {"name": "x" * 2000}}, format="json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"


def test_the_rate_limit_answers_429_with_retry_after(page, client_for, settings):
    settings.API_RATE_LIMIT = "3/min"
    cache.clear()
    client = client_for(page)
    url = f"/api/v1/pages/{page.code}/components"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(url)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "message" in response.json()
    other = client_for(page)  # another key has its own budget
    assert other.get(url).status_code == 200


def test_the_management_command_prints_a_working_key(page):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key", "--page", "acme", "--role", "owner", "--name", "deploy bot", stdout=out, stderr=err
    )
    raw = out.getvalue().strip()
    assert "shown only this once" in err.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    assert client.patch(f"/api/v1/pages/{page.code}", {"name": "Renamed"}, format="json").status_code == 200
    assert APIKey.objects.get().name == "deploy bot"
    with pytest.raises(CommandError):
        call_command("create_api_key", "--page", "nope", "--role", "owner", stdout=out, stderr=err)
