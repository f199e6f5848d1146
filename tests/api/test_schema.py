"""The OpenAPI schema: it is valid, it is served with its docs UI from local assets, and the running API keeps
to it. Schemathesis generates requests for every operation (valid and invalid bodies, odd ids, odd query
strings) against the app in this process; no answer may be a server error, and every answer must match the
schema's status codes, content type and body."""

from __future__ import annotations

import os
import zlib

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from incidents.services import create_incident, save_postmortem
from statuspage.services import SYSTEM, create_api_key

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation. `make test` runs 100; CI runs 200 on PostgreSQL and Redis and 50 on SQLite (.ci/run).
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))


def test_the_schema_is_valid_and_complete(tmp_path):
    """Generation warns for any view it cannot describe; --fail-on-warn turns that into a failure."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    text = out.read_text()
    for path in ("/api/v1/pages/{page_id}/incidents/{incident_id}:", "/api/v1/pages/{page_id}/components:"):
        assert path in text
    assert ".json" not in text.split("paths:")[1].split("components:\n  schemas:")[0]


def test_docs_ui_is_served_from_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower() and "//unpkg" not in html and "jsdelivr" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    # The initialising script is a file of its own (no inline script under the CSP); it loads our schema.
    assert '<script src="/api/docs/?script=">' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert "/api/schema/" in script.content.decode()


@pytest.fixture
def in_process():
    """The app runs in this process inside the test's transaction; like Django's test client, keep the
    request's end from closing that connection."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def world(in_process, page, other_page, make_component, make_group):
    """A page with something of everything, so generated requests also reach real objects."""
    api = make_component(page, "API")
    make_component(page, "Web", group=make_group(page, "Edge"))
    make_component(other_page, "Foreign")
    incident = create_incident(
        actor=SYSTEM, page=page, name="Errors", body="Looking", components={api: "partial_outage"}
    )
    save_postmortem(actor=SYSTEM, incident=incident, body="What happened")
    raw = create_api_key(actor=SYSTEM, page=page, name="fuzz", role="owner")[1]
    return {"page": page, "key": raw, "ids": _ids(page)}


def _ids(page) -> dict[str, list[str]]:
    from components.models import Component, ComponentGroup
    from incidents.models import Incident, IncidentUpdate

    return {
        "component_id": list(Component.objects.for_page(page).values_list("code", flat=True)),
        "group_id": list(ComponentGroup.objects.for_page(page).values_list("code", flat=True)),
        "incident_id": list(Incident.objects.for_page(page).values_list("code", flat=True)),
        "update_id": list(IncidentUpdate.objects.filter(incident__page=page).values_list("code", flat=True)),
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_the_api_keeps_to_its_schema(case, world):
    # The page is always the key's own (another page's id only ever gives 404, tested elsewhere); other ids
    # point at real objects half the time, so the handlers run and not just the 404 path.
    case.path_parameters = dict(case.path_parameters or {}, page_id=world["page"].code)
    for name, known in world["ids"].items():
        draw = zlib.crc32(str(case.path_parameters.get(name)).encode())
        if name in case.path_parameters and known and draw % 2 == 0:
            case.path_parameters[name] = known[draw % len(known)]
    case.headers = {**(case.headers or {}), "Authorization": f"OAuth {world['key']}"}
    case.call_and_validate(checks=CHECKS)
