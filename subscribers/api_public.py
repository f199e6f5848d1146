"""POST api/v2/subscribers.json: Statuspage's self-serve subscription, for widgets and scripts.

The same rules as the public subscribe form (subscribers.views.subscribe_view): the same form validates,
the same limits apply, the same command subscribes (double opt-in for an email, the SSRF check for a
webhook). Like the form, the answer never reveals whether the address was already subscribed: the body is
built from the request and the subscriber's id only, never from its stored state or history.
"""

from __future__ import annotations

import json

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from statuspage.clients import client_address
from statuspage.models import Page
from statuspage.serializers import timestamp
from statuspage.views import resolve_page_code
from subscribers import ratelimit
from subscribers.forms import SubscribeForm

# Form and service field names, as the API calls them.
API_FIELDS = {
    "components": "component_ids",
    "failure_email": "email",
    "kind": "subscriber",
    NON_FIELD_ERRORS: "subscriber",
}
TEXT_FIELDS = ("email", "endpoint", "webhook_format")


class BadRequest(Exception):
    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message, self.errors = message, errors or {}


class ApiSubscribeForm(SubscribeForm):
    """The public form, choosing components by their public id (Statuspage's component_ids)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].to_field_name = "code"


def _json(body: dict, *, status: int) -> HttpResponse:
    response = JsonResponse(body, status=status)
    # Any site may sign its visitors up (a widget); no cookie is read, so none can be abused.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


def _error(message: str, errors: dict[str, list[str]] | None = None, *, status: int = 400) -> HttpResponse:
    return _json({"message": message, "errors": errors or {}}, status=status)


def _fields(request: HttpRequest) -> dict:
    """The subscriber's fields from a JSON or form body, wrapped in "subscriber" (Statuspage's
    `subscriber[email]`) or not."""
    if request.content_type == "application/json" or request.content_type.endswith("+json"):
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The request body is not valid JSON.") from None
        if isinstance(data, dict) and isinstance(data.get("subscriber"), dict):
            data = data["subscriber"]
        if not isinstance(data, dict):
            raise BadRequest('Send a JSON object: {"subscriber": {"email": ...}}.')
        return data
    fields: dict = {}
    for key in (*TEXT_FIELDS, "component_ids"):
        for name in (f"subscriber[{key}]", f"subscriber[{key}][]", key, f"{key}[]"):
            if name in request.POST:
                values = request.POST.getlist(name)
                fields[key] = values if key == "component_ids" else values[0]
                break
    return fields


def _form_data(fields: dict) -> dict:
    """The public form's fields from the API's: an endpoint makes a webhook, whose email is for failures."""
    errors = {
        key: ["Must be a string."]
        for key in TEXT_FIELDS
        if fields.get(key) is not None and not isinstance(fields[key], str)
    }
    ids = fields.get("component_ids") or []
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        errors["component_ids"] = ["Must be a list of component ids."]
    if errors:
        raise BadRequest(_message(errors), errors)
    email, endpoint = (fields.get("email") or "").strip(), (fields.get("endpoint") or "").strip()
    data = {"components": ids, "webhook_format": fields.get("webhook_format") or ""}
    if endpoint:
        return data | {"kind": "webhook", "endpoint": endpoint, "failure_email": email}
    return data | {"kind": "email", "email": email}


def _api_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field, messages in errors.items():
        out.setdefault(API_FIELDS.get(field, field), []).extend(str(m) for m in messages)
    return out


def _message(errors: dict[str, list[str]]) -> str:
    return " ".join(m for messages in errors.values() for m in messages) or "Invalid subscriber."


def _limited(message: str) -> HttpResponse:
    response = _error(message, status=429)
    # Fixed one-hour windows (subscribers.ratelimit): an hour is the longest anyone has to wait.
    response["Retry-After"] = "3600"
    return response


@csrf_exempt  # An anonymous API: no session or cookie grants anything here, so there is nothing to forge.
def subscribe_api(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    if request.method == "OPTIONS":  # CORS preflight of a JSON POST from another site
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return response
    if request.method != "POST":
        response = _error("Use POST to subscribe.", status=405)
        response["Allow"] = "POST, OPTIONS"
        return response
    code = resolve_page_code(request, slug)
    page = Page.objects.filter(code=code).first() if code else None
    if page is None:
        return _error("Not found", status=404)
    try:
        data = _form_data(_fields(request))
    except BadRequest as exc:
        return _error(exc.message, exc.errors)
    except (RequestDataTooBig, TooManyFieldsSent):
        # Past DATA_UPLOAD_MAX_MEMORY_SIZE or _NUMBER_FIELDS: JSON like every answer here, as the management
        # API does (statuspage/api/errors.py), rather than Django's HTML 400 page.
        return _error("The request body is too large.", status=413)
    form = ApiSubscribeForm(data, page=page)
    if not form.is_valid():
        errors = _api_errors(form.errors)
        return _error(_message(errors), errors)
    try:
        subscriber = form.sign_up(ip=client_address(request))
    except ratelimit.RateLimited as exc:
        return _limited(str(exc))
    except ValidationError as exc:
        errors = _api_errors(
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
        return _error(_message(errors), errors)
    # created_at is when this request was accepted, not when the address first subscribed: the stored
    # time would tell a caller that the address was already known.
    body: dict = {
        "id": subscriber.code,
        "mode": subscriber.kind,
        "created_at": timestamp(timezone.now(), page.tz),
    }
    if form.is_webhook:
        body |= {"endpoint": subscriber.endpoint, "email": subscriber.email or None}
    else:
        body["email"] = subscriber.email
    return _json({"subscriber": body}, status=201)
