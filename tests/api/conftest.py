import pytest
from rest_framework.test import APIClient

from statuspage.services import SYSTEM, create_api_key


@pytest.fixture
def make_key(db):
    def make(page, role="commander", name="deploys"):
        return create_api_key(actor=SYSTEM, page=page, name=name, role=role)[1]

    return make


@pytest.fixture
def client_for(make_key):
    """An API client authenticated with a fresh key of `page` with `role` (Statuspage's OAuth header)."""

    def make(page, role="commander"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(page, role)}")
        return client

    return make
