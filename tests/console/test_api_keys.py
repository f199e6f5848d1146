"""API keys in the console: an owner makes one (shown once, usable at once), sees it listed with its
prefix, role and last use, and revokes it."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from statuspage.models import APIKey

pytestmark = pytest.mark.django_db


def test_an_owner_creates_uses_and_revokes_a_key(client, page, team):
    client.force_login(team.owner)
    url = f"/console/{page.slug}/settings/api-keys/"
    response = client.post(url, {"name": "deploy pipeline", "role": "commander"})
    assert response.status_code == 200
    html = response.content.decode()
    raw = re.search(r'<code class="secret" id="new-key">(sp_[^<]+)</code>', html).group(1)
    key = APIKey.objects.get()
    assert key.name == "deploy pipeline" and key.role == "commander" and key.created_by == team.owner

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    assert api.get(f"/api/v1/pages/{page.code}/components").status_code == 200

    listing = client.get(url).content.decode()
    assert raw not in listing, "shown once"
    assert key.prefix in listing and "Commander" in listing

    response = client.post(f"/console/{page.slug}/settings/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert api.get(f"/api/v1/pages/{page.code}/components").status_code == 401
    assert "Revoked" in client.get(url).content.decode()


def test_bad_input_is_a_field_error_and_makes_no_key(client, page, team):
    client.force_login(team.owner)
    response = client.post(
        f"/console/{page.slug}/settings/api-keys/",
        {"name": "", "role": "god", "expires_at": "2001-01-01 00:00"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"name", "role"}
    assert not APIKey.objects.exists()
    response = client.post(
        f"/console/{page.slug}/settings/api-keys/",
        {"name": "old", "role": "viewer", "expires_at": "2001-01-01 00:00"},
    )
    assert "expires_at" in response.context["form"].errors
    assert not APIKey.objects.exists()
