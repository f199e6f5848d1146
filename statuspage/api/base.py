"""What every management endpoint shares: the key's page and role, Statuspage's wrapped and form-encoded
bodies, pagination, and the per-key rate limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from statuspage.api import idempotency
from statuspage.models import Role
from statuspage.permissions import allows


class KeyRateThrottle(SimpleRateThrottle):
    """API_RATE_LIMIT requests per key (default 600 a minute; Statuspage allows 60). Over it: 429 with
    Retry-After."""

    scope = "api_key"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view) -> str | None:
        key = getattr(request, "auth", None)
        return None if key is None else self.cache_format % {"scope": self.scope, "ident": key.pk}


class PageAPIView(APIView):
    """A view under /api/v1/pages/<page_id>/. The key must belong to that page (another page: 404, so
    nothing is revealed) and have `read_role` for GET and `write_role` for anything else."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [KeyRateThrottle]
    read_role = Role.VIEWER
    write_role = Role.COMMANDER

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.auth
        if key is None or key.page.code != kwargs.get("page_id"):
            raise NotFound("No such page.")
        needed = self.read_role if request.method in ("GET", "HEAD", "OPTIONS") else self.write_role
        if not allows(key.role, needed):
            raise PermissionDenied(f"This needs a key with the {needed} role.")
        self.page = key.page
        self.actor = request.user.actor
        timezone.activate(self.page.tz)
        if request.method == "POST":
            self.idempotent_request = idempotency.claim(request, key)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:
            claim = getattr(self, "idempotent_request", None)
            if claim is not None:  # a server error: the service rolled back, so the key is free again
                idempotency.release(claim)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        timezone.deactivate()
        response = super().finalize_response(request, response, *args, **kwargs)
        claim = getattr(self, "idempotent_request", None)
        if claim is not None:
            self.idempotent_request = None
            idempotency.settle(claim, response)
        return response


class Moment(serializers.DateTimeField):
    """A point in time a status page can mean: from 1970 to 2100. Older or later values are typos (and
    the zone database gives local times before 1900 odd offsets no client can parse)."""

    EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
    LATEST = datetime(2100, 1, 1, tzinfo=UTC)

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        if not self.EARLIEST <= moment < self.LATEST:
            raise serializers.ValidationError("Give a time between 1970 and 2100.")
        return moment


_BRACKETS = re.compile(r"\[([^\]]*)\]")


def form_to_nested(data: QueryDict) -> dict[str, Any]:
    """`incident[name]=x&incident[component_ids][]=a&incident[components][abc]=major_outage` as nested
    dicts and lists, the way Statuspage reads form-encoded bodies."""
    out: dict[str, Any] = {}
    for raw_key, values in data.lists():
        head, _, rest = raw_key.partition("[")
        path = [head] + (_BRACKETS.findall("[" + rest) if rest else [])
        node = out
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if last:
                node[part] = values if raw_key.endswith("[]") or len(values) > 1 else values[0]
                break
            if path[i + 1] == "":
                node[part] = values
                break
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParseError(f"'{raw_key}' mixes a value and nested fields.")
    return out


def body(request, wrapper: str) -> dict[str, Any]:
    """The request's fields, unwrapped from Statuspage's resource key (`{"component": {...}}`) when it is
    there; bare fields are accepted too, and fields beside the wrapper (a group's `description`) join
    those inside it."""
    data = request.data
    if isinstance(data, QueryDict):
        data = form_to_nested(data)
    if not isinstance(data, dict):
        raise ParseError("The body must be a JSON object.")
    inner = data.get(wrapper)
    if isinstance(inner, dict):
        extra = {k: v for k, v in data.items() if k != wrapper}
        return {**extra, **inner}
    if inner is not None:
        raise ParseError(f"'{wrapper}' must be an object.")
    return dict(data)


MAX_PAGE_NUMBER = 1_000_000


def paginate(request, queryset, *, zero_based: bool = False, default: int = 100):
    """Statuspage's pagination: `page` (1-based; 0-based for subscribers) and `per_page` or `limit`,
    at most 100."""
    errors = {}
    try:
        size = int(request.query_params.get("per_page") or request.query_params.get("limit") or default)
    except ValueError:
        errors["per_page"] = ["A whole number, 1 to 100."]
        size = default
    first = 0 if zero_based else 1
    try:
        number = int(request.query_params.get("page") or first)
    except ValueError:
        errors["page"] = ["A whole number."]
        number = first
    if errors:
        raise ValidationError(errors)
    size = max(1, min(size, 100))
    number = max(first, number)
    if number > MAX_PAGE_NUMBER:
        return []  # far past the end, and past what a database OFFSET can take
    start = (number - first) * size
    return list(queryset[start : start + size])
