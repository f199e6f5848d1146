"""A page with a team of every role, a member of another page, and one of each object a console URL names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from incidents.services import create_incident, save_template
from statuspage.services import SYSTEM, Actor, add_member

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@dataclass
class Team:
    owner: User
    commander: User
    viewer: User
    outsider: User  # owner of the other page, nothing on this one

    def client(self, who: str | None) -> Client:
        client = Client()
        if who is not None:
            client.force_login(getattr(self, who))
        return client


@pytest.fixture
def team(page, other_page):
    users = {
        role: User.objects.create_user(role, f"{role}@example.com", "correct horse battery")
        for role in ("owner", "commander", "viewer", "outsider")
    }
    for role in ("owner", "commander", "viewer"):
        add_member(actor=SYSTEM, page=page, user=users[role], role=role)
    add_member(actor=SYSTEM, page=other_page, user=users["outsider"], role="owner")
    return Team(**users)


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def web(page, make_component):
    return make_component(page, "Website")


@pytest.fixture
def incident(page, team, api):
    return create_incident(
        actor=Actor.of(team.commander),
        page=page,
        name="API errors",
        body="We are looking into errors on the API.",
        components={api: "partial_outage"},
        commander=team.commander,
        at=T,
    )


@pytest.fixture
def template(page, team, api):
    return save_template(
        actor=SYSTEM,
        page=page,
        name="Database failover",
        title="Database failover on $page",
        body="$page is failing over its primary database.",
        status="identified",
        component_status="partial_outage",
        deliver_notifications=True,
        components=[api],
    )
