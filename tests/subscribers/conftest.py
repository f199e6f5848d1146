"""Subscribers of the `page` fixture, and a way to run a command as the worker would after commit."""

from __future__ import annotations

import pytest

from subscribers.services import subscribe
from tests.console.conftest import team  # noqa: F401 - the console's team of every role, shared


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def web(page, make_component):
    return make_component(page, "Website")


@pytest.fixture
def subscribed(page, setup_committed):
    """subscribed(email=... | endpoint=..., components=[...]): an active subscriber (opt-in skipped, as a
    team member may), with the setup's on-commit work forgotten."""

    def make(**kwargs):
        from statuspage.services import SYSTEM

        kwargs.setdefault("skip_confirmation", True)
        subscriber = subscribe(page=page, actor=SYSTEM, **kwargs)
        setup_committed()
        return subscriber

    return make
