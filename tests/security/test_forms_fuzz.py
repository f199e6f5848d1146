"""Bad input never gives a 500 (issue 8, point 8): every console form and every public form, from the URL
conf, gets hypothesis-generated posts (text, unicode, huge, empty, NUL bytes, numbers and dates out of range,
wrong types, repeated keys, unknown fields, with and without htmx) from a signed-in owner (the console) or an
anonymous visitor (sign-in, sign-up, password reset, subscribing, the emailed links). Every answer must be
under 500, and an answer of 400 or more must have written nothing (row counts before and after).

The field names come from the forms themselves: each URL's own page, and the pages that post to it (an
incident's page holds the forms of its update, hand-over and postmortem URLs). Unknown names are sent too.
The management API has its own property-based run (schemathesis, tests/api/test_schema.py).

HYPOTHESIS_EXAMPLES sets the examples per URL (25 by default; CI may raise it)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import NoReverseMatch, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from components.models import Component, ComponentGroup
from components.services import create_component
from incidents.models import Incident, IncidentTemplate, IncidentUpdate, Postmortem
from incidents.services import create_change_record, create_incident, save_postmortem, save_template
from incidents.services.maintenance import schedule_maintenance
from statuspage.models import APIKey, Membership, Page
from statuspage.services import SYSTEM, Actor, add_member, create_api_key
from subscribers import links
from subscribers.models import OutboxEvent, Subscriber
from subscribers.services import subscribe

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
PASSWORD = "a long enough passphrase"

# URL names left out, and why. Everything else under console: and by-slug: is fuzzed.
SKIPPED = {
    "by-slug:api-v2": "GET-only Statuspage documents (tests/contract)",
    "by-slug:embed-script": "GET-only script",
}
ANONYMOUS = {
    "console:login",
    "console:login_code",
    "console:password_reset",
    "console:password_reset_done",
    "console:password_reset_confirm",
    "console:password_reset_complete",
    "console:signup",
}
# Rows whose count must not move when an answer is 400 or more.
COUNTED = (
    Page,
    Membership,
    APIKey,
    User,
    Component,
    ComponentGroup,
    Incident,
    IncidentUpdate,
    IncidentTemplate,
    Postmortem,
    Subscriber,
)


_PATTERNS: list[tuple[str, str]] = []


def _patterns() -> list[tuple[str, str]]:
    if not _PATTERNS:

        def walk(patterns, prefix: str = "", namespace: str = "") -> None:
            for pattern in patterns:
                if isinstance(pattern, URLResolver):
                    walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
                elif pattern.name:
                    _PATTERNS.append((f"{namespace}:{pattern.name}", prefix + str(pattern.pattern)))

        walk(get_resolver().url_patterns)
    return _PATTERNS


def _names() -> list[str]:
    names = [name for name, _ in _patterns() if name.split(":")[0] in ("console", "by-slug")]
    return [name for name in dict.fromkeys(names) if name not in SKIPPED]


class _Forms(HTMLParser):
    """Collects each POST form's action and field names (with the values offered: options, checkboxes),
    and htmx hx-post targets."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, set[str]]]] = []
        self._current: dict[str, set[str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._current = {}
            self.forms.append((a.get("action", ""), self._current))
        elif "hx-post" in a:
            self.forms.append((a["hx-post"], {}))
        if self._current is None:
            return
        if tag in ("input", "textarea", "select", "button") and a.get("name"):
            values = self._current.setdefault(a["name"], set())
            if a.get("value"):
                values.add(a["value"])
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._select and a.get("value"):
            self._current[self._select].add(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def forms_in(html: str, base: str) -> dict[str, dict[str, set[str]]]:
    """url name -> {field: offered values} for every POST form on a page."""
    parser = _Forms()
    parser.feed(html)
    out: dict[str, dict[str, set[str]]] = {}
    for action, fields in parser.forms:
        path = urlsplit(action).path or urlsplit(base).path
        if not path.startswith("/"):
            path = urlsplit(base).path.rsplit("/", 1)[0] + "/" + path
        try:
            match = resolve(path)
        except Resolver404:
            continue
        name = f"{match.namespace}:{match.url_name}"
        merged = out.setdefault(name, {})
        for field, values in fields.items():
            merged.setdefault(field, set()).update(values)
    return out


NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "9" * 400,
    "-1",
    "0",
    "2147483648",
    "-9223372036854775809",
    "1e309",
    "NaN",
    "-inf",
    "0.0000001",
    "0000-00-00",
    "0001-01-01 00:00",
    "9999-12-31 23:59:59",
    "10000-01-01",
    "2026-02-30",
    "2026-03-29 02:30",  # a time that does not exist in Europe (DST)
    "24:00",
    "99:99",
    "2026-13-01T25:61:61Z",
    "true",
    "null",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "{{ 7|add:7 }}",
    "${page.name}",
    "../../etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "javascript:alert(1)",
    "a@b",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\U0001f4a5" * 50,
    "x" * 30_000,
    "on",
    "off",
    "investigating",
    "major_outage",
    "owner",
]
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


def values_for(offered: set[str], codes: list[str]) -> st.SearchStrategy:
    scalar = st.one_of(TEXT, st.sampled_from(NASTY + codes), st.integers(-(10**20), 10**20).map(str))
    if offered:
        scalar = st.one_of(st.sampled_from(sorted(offered)), scalar)
    # A list sends the key repeatedly (?a=1&a=2): fields that expect one value get several.
    return st.one_of(scalar, st.lists(scalar, min_size=2, max_size=3))


def posts(fields: dict[str, set[str]], codes: list[str]) -> st.SearchStrategy:
    known = st.fixed_dictionaries({}, optional={k: values_for(v, codes) for k, v in fields.items()})
    unknown = st.dictionaries(
        st.text("abcdefghij_[]", min_size=1, max_size=12), values_for(set(), codes), max_size=3
    )
    return st.tuples(known, unknown, st.booleans()).map(lambda t: (t[1] | t[0], t[2]))


@pytest.fixture
def world(page, settings):
    """A page with one of everything a console URL can name, and its owner signed in."""
    settings.ALLOW_SIGNUP = True
    settings.SUBSCRIBE_LIMIT_PER_IP = settings.SUBSCRIBE_LIMIT_PER_ADDRESS = 10**6
    settings.SIGNUP_LIMIT_PER_IP = settings.SIGNUP_LIMIT_PER_ADDRESS = 10**6
    owner = User.objects.create_user("owner", "owner@example.com", PASSWORD)
    commander = User.objects.create_user("ic", "ic@example.com", PASSWORD)
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    member = add_member(actor=SYSTEM, page=page, user=commander, role="commander")
    actor = Actor.of(owner)
    component = create_component(actor=actor, page=page, name="API")
    incident = create_incident(
        actor=actor, page=page, name="Errors", body="Looking", components={component: "major_outage"}
    )
    save_postmortem(actor=actor, incident=incident, body="What happened")
    template = save_template(actor=actor, page=page, name="Outage", title="Outage", body="We are on it")
    now = timezone.now()
    maintenance = schedule_maintenance(
        actor=actor,
        page=page,
        name="Upgrade",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=1),
        components=[component],
    )
    change = create_change_record(
        actor=actor, page=page, title="Deploy", components=[component], submit=False
    )
    subscriber = subscribe(page=page, email="ann@example.com", actor=actor, skip_confirmation=True)
    key, _ = create_api_key(actor=actor, page=page, name="deploys", role="commander")
    console = Client()
    console.force_login(owner)
    kwargs = {
        "page_slug": page.slug,
        "slug": page.slug,
        "code": incident.code,
        "update_code": incident.updates.first().code,
        "component_code": component.code,
        "template_code": template.code,
        "subscriber_code": subscriber.code,
        "maintenance_code": maintenance.code,
        "change_code": change.code,
        "member_id": member.pk,
        "key_id": key.pk,
        "uidb64": urlsafe_base64_encode(force_bytes(owner.pk)),
        "token": default_token_generator.make_token(owner),
        "secret": "not-a-real-link-secret",
        "event_code": OutboxEvent.objects.filter(page=page).first().code,
    }
    codes = [incident.code, component.code, template.code, subscriber.code, maintenance.code, change.code]
    return {
        "page": page,
        "owner": owner,
        "console": console,
        "kwargs": kwargs,
        "codes": codes,
        "subscriber": subscriber,
        "incident": incident,
        "component": component,
        "maintenance": maintenance,
        "change": change,
    }


def url_for(name: str, world: dict) -> str | None:
    url_name = name.split(":")[1]
    pattern = next(p for n, p in _patterns() if n == name)
    wanted = set(re.findall(r"<(?:\w+:)?(\w+)>", pattern))
    kwargs = {k: world["kwargs"][k] for k in wanted if k in world["kwargs"]}
    if "action" in wanted:
        kwargs["action"] = "extend" if "maintenance" in url_name else "edit"
    if wanted - set(kwargs):
        return None
    if name.startswith("by-slug:") and "code" in wanted and "component" in url_name:
        kwargs["code"] = world["component"].code
    if "token" in wanted and name.startswith("by-slug:"):
        purpose = {
            "subscription-confirm": "confirm",
            "subscription-manage": "manage",
            "unsubscribe": "unsubscribe",
        }
        kwargs["token"] = links.make_token(world["subscriber"], purpose[url_name])
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


# Pages whose forms post elsewhere (htmx actions, POST-only views).
HUBS = (
    "console:dashboard",
    "console:incident",
    "console:component",
    "console:components",
    "console:maintenance_detail",
    "console:change_detail",
    "console:subscribers",
    "console:subscriber_action",
    "console:team",
    "console:api_keys",
    "console:settings",
    "console:templates",
    "console:notifications",
    "console:security",
)


_HUB_FORMS: dict[str, dict[str, set[str]]] = {}


def discover(name: str, url: str, client: Client, world: dict) -> dict[str, set[str]]:
    """The fields of the forms that post to `name`: on its own page, and on the hub pages (read once per
    run: field names do not depend on the data)."""
    if not _HUB_FORMS:
        for hub in HUBS:
            hub_url = url_for(hub, world)
            response = world["console"].get(hub_url) if hub_url else None
            if response is not None and response.status_code == 200:
                for target, fields in forms_in(response.content.decode(), hub_url).items():
                    for field, values in fields.items():
                        _HUB_FORMS.setdefault(target, {}).setdefault(field, set()).update(values)
    found = {field: set(values) for field, values in _HUB_FORMS.get(name, {}).items()}
    response = client.get(url)
    if response.status_code == 200 and "html" in response.get("Content-Type", ""):
        for field, values in forms_in(response.content.decode(), url).get(name, {}).items():
            found.setdefault(field, set()).update(values)
    found.pop("csrfmiddlewaretoken", None)
    return found


def counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in COUNTED)


@pytest.mark.parametrize("name", _names())
def test_no_post_to_any_form_gives_a_server_error(name: str, world: dict) -> None:
    url = url_for(name, world)
    if url is None:
        pytest.skip(f"{name}: no object to name in its URL")
    client = Client() if name in ANONYMOUS or name.startswith("by-slug:") else world["console"]
    if client.post(url, {"x": "\x00"}).status_code == 405:
        return  # does not take POST at all (a read-only page): nothing more to try
    fields = discover(name, url, client, world)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(posts(fields, world["codes"]))
    def post(example) -> None:
        data, htmx = example
        before = counts()
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.post(url, data, headers=headers)
        assert response.status_code < 500, (name, data)
        if response.status_code >= 400:
            assert counts() == before, f"{name} answered {response.status_code} but wrote rows: {data!r}"

    post()


# What the fuzzing found, kept as plain regressions.


@pytest.mark.parametrize(
    ("who", "url", "prefix"),
    [
        ("owner", "/console/acme/subscribers/add/", "add-"),
        ("anonymous", "/pages/acme/subscribe", ""),
        ("owner", "/console/acme/templates/new/", ""),
    ],
)
def test_a_component_id_too_large_for_the_database_is_an_invalid_choice(world, who, url, prefix):
    client = world["console"] if who == "owner" else Client()
    before = counts()
    data = {"kind": "email", "email": "new@example.com", "components": ["1", "99999999999999999999"]}
    response = client.post(url, {prefix + k: v for k, v in data.items()}, follow=True)
    assert response.status_code in (200, 400)
    assert "99999999999999999999” is not a valid value" in response.content.decode()
    assert counts() == before
