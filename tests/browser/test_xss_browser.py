"""The XSS corpus in a real browser: the public page, an incident page, the history and console pages
full of payloads run nothing, and the Content-Security-Policy reports no violation (htmx's indicator
<style>, an inline handler or an inline <style> left in a template would each show up here)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from components.services import create_component, create_group
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    save_postmortem,
    save_template,
)
from statuspage import publishing
from statuspage.services import SYSTEM, Actor, add_member, create_page
from tests.security import xss_corpus
from tests.security.xss_corpus import chunks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any script of the page: every way a payload could announce itself sets window.__xss, and
# every CSP violation is recorded.
WATCH = """
window.__xss = 0;
window.__violations = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = function () { window.__xss = (window.__xss || 0) + 1; };
}
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


@pytest.fixture
def xss_page():
    """A page holding the corpus, written without publishing after each command, then published once."""
    page = create_page(actor=SYSTEM, name="Acme", slug="xss-browser", time_zone="Europe/Berlin")
    owner = User.objects.create_user("xss-owner", "owner@example.com", "a long passphrase 1")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    actor = Actor.of(owner)
    start = timezone.now() - timedelta(days=10)
    payloads = xss_corpus.ALL
    group = create_group(actor=actor, page=page, name=payloads[0], description=payloads[1])
    components = [
        create_component(
            actor=actor, page=page, name=text, description=text, group=group if i < 5 else None, at=start
        )
        for i, text in enumerate(payloads[:25])
    ]
    incidents = [
        create_incident(
            actor=actor,
            page=page,
            name=name,
            body="\n\n".join(payloads),
            components={components[i]: "degraded_performance"},
            at=start + timedelta(minutes=i),
        )
        for i, name in enumerate(chunks(payloads, 200))
    ]
    post_update(actor=actor, incident=incidents[0], status="identified", body="\n\n".join(payloads))
    save_postmortem(actor=actor, incident=incidents[0], body="\n\n".join(payloads))
    publish_postmortem(actor=actor, incident=incidents[0])
    save_template(actor=actor, page=page, name=payloads[2], title=payloads[3], body="\n\n".join(payloads))
    publishing.publish_page(page.pk)
    return page, incidents[0]


def _load(tab, url):
    tab.goto(url)
    tab.wait_for_load_state("load")
    tab.wait_for_timeout(300)  # image errors and lazy handlers fire just after load
    return tab.evaluate("[window.__xss, window.__violations]")


def test_payloads_run_nothing_and_break_no_policy(live_server, xss_page, context_factory):
    page, incident = xss_page
    ctx = context_factory()
    ctx.add_init_script(WATCH)
    tab = ctx.new_page()
    dialogs = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))

    public = f"{live_server.url}/pages/{page.slug}/"
    for url in [public, f"{public}incidents/{incident.code}", f"{public}history"]:
        fired, violations = _load(tab, url)
        assert fired == 0, f"a payload ran on {url}"
        assert violations == [], f"CSP violations on {url}: {violations}"

    tab.goto(f"{live_server.url}/console/login/")
    tab.get_by_label("Username").fill("xss-owner")
    tab.get_by_label("Password").fill("a long passphrase 1")
    tab.get_by_role("button", name="Sign in").click()
    console = f"{live_server.url}/console/{page.slug}/"
    for url in [
        console,
        f"{console}incidents/{incident.code}/",
        f"{console}incidents/{incident.code}/postmortem/",
        f"{console}components/",
        f"{console}components/dependencies/",
        f"{console}templates/",
    ]:
        fired, violations = _load(tab, url)
        assert fired == 0, f"a payload ran on {url}"
        assert violations == [], f"CSP violations on {url}: {violations}"

    # The live Markdown preview swaps sanitized HTML in with htmx: still nothing runs.
    tab.goto(f"{console}incidents/new/")
    tab.get_by_label("Message").fill("\n\n".join(xss_corpus.ALL))
    tab.wait_for_selector(".preview p")
    tab.wait_for_timeout(500)
    assert tab.evaluate("[window.__xss, window.__violations]") == [0, []]
    assert dialogs == [] and errors == []


def test_the_policy_is_enforced_not_just_sent(live_server, xss_page, context_factory):
    """A control: script injected into the page by hand is refused by the browser and reported, so the
    silence above means the payloads were inert, not that nobody was listening."""
    page, _ = xss_page
    ctx = context_factory()
    ctx.add_init_script(WATCH)
    tab = ctx.new_page()
    tab.goto(f"{live_server.url}/pages/{page.slug}/")
    tab.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.__xss = 99';
        document.body.appendChild(s);
        const i = document.createElement('img'); i.setAttribute('onerror', 'window.__xss = 98'); i.src = 'x:';
        document.body.appendChild(i); }"""
    )
    tab.wait_for_timeout(300)
    fired, violations = tab.evaluate("[window.__xss, window.__violations]")
    assert fired == 0
    assert any(v.startswith("script-src") for v in violations), violations
