"""The permission and tenancy matrix of the management API, generated from its URL configuration so that no
endpoint can be forgotten: for every path and every method it serves,

- no key, and a revoked key: 401;
- a key of another page: 404 on this page's paths (nothing revealed, not even that the page exists);
- this page's key with another page's object ids: 404;
- each role below the one the endpoint needs: 403; the role it needs: not refused.

An endpoint with a path parameter this file does not know fails the test: give it an object below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern
from rest_framework.test import APIClient

from components.models import Component, ComponentGroup
from incidents.models import IncidentTemplate, IncidentUpdate
from incidents.services import create_incident, save_postmortem
from statuspage.api import urls as api_urls
from statuspage.models import Role
from statuspage.permissions import allows
from statuspage.services import SYSTEM, create_api_key, revoke_api_key
from subscribers.models import OutboxEvent, Subscriber
from subscribers.services import subscribe

READS = ("GET",)
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Endpoint:
    name: str
    regex: str
    view: type
    method: str

    def __str__(self) -> str:
        return f"{self.method} {self.name}"

    @property
    def needed(self) -> str:
        return self.view.read_role if self.method in READS else self.view.write_role

    def url(self, ids: dict[str, str]) -> str:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: ids[m.group(1)], self.regex)
        return "/api/v1/" + path.removeprefix("^").removesuffix("$").replace(r"(?:\.json)?", "")

    @property
    def params(self) -> list[str]:
        return re.findall(r"\(\?P<(\w+)>", self.regex)


def _methods(pattern: URLPattern) -> list[str]:
    """The methods a mounted view serves: those it defines, less any its mount leaves out."""
    view = pattern.callback
    cls = view.view_class
    allowed = view.view_initkwargs.get("http_method_names", cls.http_method_names)
    return [m for m in ALL_METHODS if hasattr(cls, m.lower()) and m.lower() in allowed]


def endpoints() -> list[Endpoint]:
    out = []
    for pattern in api_urls.urlpatterns:
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None or "page_id" not in pattern.pattern.regex.pattern:
            continue  # the JSON catch-all, and GET /pages (the key's own page: nothing to cross)
        for method in _methods(pattern):
            out.append(Endpoint(pattern.name, pattern.pattern.regex.pattern, view_class, method))
    return out


ENDPOINTS = endpoints()


def test_the_matrix_covers_every_route():
    names = {e.name for e in ENDPOINTS}
    routed = {p.name for p in api_urls.urlpatterns if "page_id" in p.pattern.regex.pattern}
    assert names == routed
    assert len(ENDPOINTS) >= 30


def objects_of(page) -> dict[str, str]:
    """One object of each kind on `page`, by the path parameter that names it."""
    group = ComponentGroup.objects.create(page=page, name="Edge")
    component = Component.objects.create(page=page, name="API", group=group)
    incident = create_incident(actor=SYSTEM, page=page, name="Errors", body="Looking")
    save_postmortem(actor=SYSTEM, incident=incident, body="What happened")
    template = IncidentTemplate.objects.create(page=page, name="T", title="T", body="B")
    subscriber = subscribe(page=page, email=f"ana@{page.slug}.example.com")
    ids = {
        "page_id": page.code,
        "component_id": component.code,
        "group_id": group.code,
        "incident_id": incident.code,
        "update_id": IncidentUpdate.objects.filter(incident=incident).first().code,
        "template_id": template.code,
        "subscriber_id": Subscriber.objects.get(pk=subscriber.pk).code,
        "event_id": str(_event_id(OutboxEvent.objects.filter(incident=incident).first())),
    }
    ids.update(_change_ids(page, component))
    return ids


def _event_id(event) -> str:
    return getattr(event, "code", None) or event.pk


def _change_ids(page, component) -> dict[str, str]:
    try:
        from incidents.models import ChangeRecord
    except ImportError:
        return {}
    change = ChangeRecord.objects.create(page=page, title="Rotate keys")
    change.components.set([component])
    return {"change_id": change.code}


def client_with(page, role: str = Role.OWNER, *, revoked: bool = False) -> APIClient:
    key, raw = create_api_key(actor=SYSTEM, page=page, name=f"matrix-{role}", role=role)
    if revoked:
        revoke_api_key(actor=SYSTEM, key=key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    return client


def call(client: APIClient, endpoint: Endpoint, ids: dict[str, str]):
    method = getattr(client, endpoint.method.lower())
    if endpoint.method == "GET":
        return method(endpoint.url(ids))
    return method(endpoint.url(ids), {}, format="json")


@pytest.fixture
def world(page, other_page):
    return {"ours": objects_of(page), "theirs": objects_of(other_page), "page": page, "other": other_page}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_permission_and_tenancy(endpoint, world):
    ours, theirs = world["ours"], world["theirs"]
    missing = [p for p in endpoint.params if p not in ours]
    assert not missing, f"{endpoint}: give the matrix an object for {missing} in objects_of()"

    anonymous = call(APIClient(), endpoint, ours)
    assert anonymous.status_code == 401, anonymous.content
    assert anonymous["Content-Type"] == "application/json"
    assert call(client_with(world["page"], revoked=True), endpoint, ours).status_code == 401

    # Another page's key on this page: 404, whatever the object.
    foreign = call(client_with(world["other"]), endpoint, ours)
    assert foreign.status_code == 404, foreign.content

    # This page's key reaching for another page's objects: 404.
    if len(endpoint.params) > 1:
        crossed = {**theirs, "page_id": ours["page_id"]}
        response = call(client_with(world["page"]), endpoint, crossed)
        assert response.status_code == 404, (endpoint, response.content)

    # Roles, lowest first: refused below the one needed, then let through (a write may change the object,
    # so higher roles are not asked again: rank is monotonic).
    for role in (Role.VIEWER, Role.COMMANDER, Role.OWNER):
        response = call(client_with(world["page"], role), endpoint, ours)
        if allows(role, endpoint.needed):
            assert response.status_code not in (401, 403, 404), (role, response.content)
            break
        assert response.status_code == 403, (role, response.content)
        assert "role" in response.json()["message"]
