"""The Content-Security-Policy and the brand colour: one policy on every response, no inline script or
style anywhere in our templates, Swagger UI's one relaxation, and a colour that can only be a colour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from statuspage.security_headers import CONTENT_SECURITY_POLICY, SWAGGER_POLICY, headers
from statuspage.services import SYSTEM, add_member, create_api_key, update_page
from tests.security.inert import assert_inert

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def test_the_policy_allows_no_inline_script_or_style():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert headers()["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_every_kind_of_response_carries_the_policy(client, page, make_component):
    make_component(page, "API")
    key = create_api_key(actor=SYSTEM, page=page, name="k", role="viewer")[1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")
    responses = [
        client.get(f"/pages/{page.slug}/"),
        client.get(f"/pages/{page.slug}/api/v2/summary.json"),
        client.get(f"/pages/{page.slug}/badge.svg"),
        client.get(f"/pages/{page.slug}/history.atom"),
        client.get(f"/pages/{page.slug}/no-such-thing"),
        client.get("/console/login/"),
        client.get("/healthz"),
        client.get("/brand/1f6feb.css"),
        api.get(f"/api/v1/pages/{page.code}/components"),
    ]
    for response in responses:
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, response
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_has_inline_script_style_or_handlers(path):
    """Emails are exempt from the policy (no script runs in a mail client); their HTML is checked for
    inertness in test_xss instead."""
    if path.startswith("email/"):
        return
    source = (TEMPLATES / path).read_text()
    assert not re.search(r"<style\b", source), "inline <style>: the CSP blocks it; use a stylesheet"
    assert not re.search(r"\sstyle=", source), "style attribute: the CSP blocks it; use a class"
    assert not re.search(r"\son[a-z]+\s*=", source), "inline event handler: the CSP blocks it"
    for tag in re.findall(r"<script\b[^>]*>", source):
        assert "src=" in tag or "application/json" in tag, tag


def test_htmx_runs_without_eval_or_injected_styles(client, page):
    html = client.get(f"/pages/{page.slug}/").content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html).group(1)
    assert '"includeIndicatorStyles": false' in config and '"allowEval": false' in config


def test_swagger_ui_has_no_inline_script_and_relaxes_styles_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == SWAGGER_POLICY
    assert "script-src 'self';" in SWAGGER_POLICY and "'unsafe-eval'" not in SWAGGER_POLICY
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts), scripts
    init = re.search(r'<script src="([^"]*script[^"]*)"', html.replace("&amp;", "&")).group(1)
    js = client.get(init)
    assert js.status_code == 200 and js["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in js.content.decode()


# --- Branding ------------------------------------------------------------------------------------------


def test_the_brand_colour_comes_from_a_stylesheet(client, page):
    update_page(actor=SYSTEM, page=page, brand_colour="#C0FFEE")
    html = client.get(f"/pages/{page.slug}/").content.decode()
    assert_inert(html, "public page")
    href = re.search(r'<link rel="stylesheet" href="(/brand/[^"]+)">', html).group(1)
    assert href == "/brand/C0FFEE.css"
    css = client.get(href)
    assert css.content.decode() == ":root { --brand: #c0ffee; }\n"
    assert css["Content-Type"].startswith("text/css")
    assert "immutable" in css["Cache-Control"]


@pytest.mark.parametrize(
    "path", ["/brand/c0ffe.css", "/brand/c0ffeeg.css", "/brand/zzzzzz.css", "/brand/c0ffee.css%0a"]
)
def test_the_brand_stylesheet_takes_six_hex_digits_only(client, path):
    assert client.get(path).status_code == 404


BAD_COLOURS = [
    "red",
    "#fff",
    "#12345",
    "#1234567",
    "#12345g",
    "#123456;}body{background:url(//evil.example)}",
    "#123456</style><script>alert(1)</script>",
    "expression(alert(1))",
    "var(--x)",
    "",
]


@pytest.mark.parametrize("colour", BAD_COLOURS)
def test_a_bad_colour_is_refused_by_the_service(page, colour):
    with pytest.raises(ValidationError) as caught:
        update_page(actor=SYSTEM, page=page, brand_colour=colour)
    assert "brand_colour" in caught.value.message_dict


def test_a_bad_colour_is_a_form_error_in_the_console(page, django_user_model):
    owner = django_user_model.objects.create_user("owner", "owner@example.com", "correct horse battery")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    client = Client()
    client.force_login(owner)
    form = client.get(f"/console/{page.slug}/settings/").context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data["brand_colour"] = "#123456;}body{x:y}"
    response = client.post(f"/console/{page.slug}/settings/", data)
    assert response.status_code == 200
    assert "brand_colour" in response.context["form"].errors
    page.refresh_from_db()
    assert page.brand_colour == "#1f6feb"


def test_a_bad_colour_is_a_400_in_the_api(page):
    key = create_api_key(actor=SYSTEM, page=page, name="k", role="owner")[1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")
    for colour in ["#123456;}", "red", "12345"]:
        response = api.patch(
            f"/api/v1/pages/{page.code}", {"page": {"css_link_color": colour}}, format="json"
        )
        assert response.status_code == 400, (colour, response.content)
    response = api.patch(f"/api/v1/pages/{page.code}", {"page": {"css_link_color": "C0FFEE"}}, format="json")
    assert response.status_code == 200
    page.refresh_from_db()
    assert page.brand_colour == "#c0ffee"


def test_there_is_no_raw_css_field():
    from statuspage.models import Page

    names = {f.name for f in Page._meta.get_fields()}
    assert not {n for n in names if "css" in n or "style" in n}, names
