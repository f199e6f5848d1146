"""Subscribers in the management API, Statuspage's paths and shapes: `/pages/{page_id}/subscribers[/{id}]`,
`/subscribers/{id}/resend_confirmation`, the bulk `/subscribers/unsubscribe|reactivate|resend_confirmation`,
and `/subscribers/count|histogram_by_state|unsubscribed`. Every write is the console's service function.

Subscribers are people's addresses: as in the console, reading them needs a commander key, not a viewer's."""

from __future__ import annotations

import re

from django.db.models import Case, CharField, Count, F, IntegerField, Q, Value, When
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components.models import Component
from statuspage.api.base import PageAPIView, body, paginate
from statuspage.models import Page, Role
from statuspage.serializers import timestamp
from subscribers import services
from subscribers.models import Subscriber, SubscriberKind, SubscriberState, WebhookFormat

# Statuspage's subscriber types. We have email and webhook subscribers only: the others are valid filters
# that match nobody, so a client that asks for its SMS subscribers gets an empty list, not an error.
TYPES = ["email", "sms", "webhook", "slack", "integration_partner"]
# `state` as Statuspage reads it, plus ours: `unsubscribed`. Statuspage drops a subscriber who leaves, so
# its `all` never lists them; ours neither (they have `state=unsubscribed` and /subscribers/unsubscribed).
STATES = {
    "active": [SubscriberState.ACTIVE],
    "unconfirmed": [SubscriberState.UNCONFIRMED],
    "quarantined": [SubscriberState.QUARANTINED],
    "unsubscribed": [SubscriberState.UNSUBSCRIBED],
    "all": [SubscriberState.ACTIVE, SubscriberState.UNCONFIRMED, SubscriberState.QUARANTINED],
}
SORT_FIELDS = ["primary", "email", "endpoint", "created_at", "quarantined_at", "relevance"]
BULK_LIMIT = 100
CODE = re.compile(r"[a-z0-9]{1,32}")  # a public id; anything else is unknown without asking the database


def subscriber_json(subscriber: Subscriber, *, secret: bool = False) -> dict:
    """Statuspage's subscriber object, plus ours: `state`, `webhook_format`, `confirmed_at`, and
    `skip_unsubscription_notification` (always true: we never email someone who leaves); `secret` only in
    the answer that made a webhook, once, like an API key."""
    tz = subscriber.page.tz
    webhook = subscriber.kind == SubscriberKind.WEBHOOK
    out = {
        "id": subscriber.code,
        "mode": subscriber.kind,
        "email": subscriber.email or None,
        "endpoint": subscriber.endpoint or None,
        "quarantined_at": timestamp(subscriber.quarantined_at, tz),
        "purge_at": None,  # a quarantined webhook waits for reactivation; nothing is purged on a timer
        "components": [c.code for c in subscriber.components.all()],
        "created_at": timestamp(subscriber.created_at, tz),
        "skip_unsubscription_notification": True,
        "state": subscriber.state,
        "webhook_format": subscriber.webhook_format if webhook else None,
        "confirmed_at": timestamp(subscriber.confirmed_at, tz),
    }
    if secret and webhook:
        out["secret"] = subscriber.secret
    return out


def _component_ids(page: Page, codes: list[str]) -> list[Component]:
    found = {c.code: c for c in Component.objects.for_page(page).filter(code__in=codes)}
    missing = [code for code in codes if code not in found]
    if missing:
        raise serializers.ValidationError(f"No such component on this page: {', '.join(missing)}.")
    return [found[code] for code in dict.fromkeys(codes)]


class FilterQuery(serializers.Serializer):
    type = serializers.ChoiceField(choices=TYPES, required=False)
    state = serializers.ChoiceField(choices=list(STATES), required=False, default="active")


class ListQuery(FilterQuery):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sort_field = serializers.ChoiceField(choices=SORT_FIELDS, required=False, default="primary")
    sort_direction = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="asc")

    def validate(self, data):
        if data["sort_field"] == "relevance" and not data.get("q", "").strip():
            raise serializers.ValidationError({"sort_field": ["'relevance' needs a search text (q)."]})
        return data


def _query(request, serializer_class) -> dict:
    query = serializer_class(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return query.validated_data


def _filtered(qs, values: dict):
    kind = values.get("type")
    if kind is not None:
        qs = qs.filter(kind=kind) if kind in SubscriberKind.values else qs.none()
    return qs.filter(state__in=STATES[values.get("state", "active")])


def _sorted(qs, values: dict):
    """Statuspage's sort fields; `primary` is the address (an email subscriber's email, a webhook's URL),
    `relevance` puts addresses that start with the search text first. Ties fall back to the id, so pages
    of a listing never overlap."""
    field, descending = values["sort_field"], values["sort_direction"] == "desc"
    primary = Case(
        When(kind=SubscriberKind.WEBHOOK, then=F("endpoint")), default=F("email"), output_field=CharField()
    )
    if field == "relevance":
        q = values["q"].strip()
        starts = Q(email__istartswith=q) | Q(endpoint__istartswith=q)
        qs = qs.annotate(
            _rank=Case(When(starts, then=Value(0)), default=Value(1), output_field=IntegerField()),
            _primary=primary,
        )
        keys = [F("_rank").desc() if descending else F("_rank").asc(), F("_primary").asc()]
    elif field in ("primary", "email", "endpoint"):
        expression = primary if field == "primary" else F(field)
        qs = qs.annotate(_primary=expression)
        keys = [F("_primary").desc() if descending else F("_primary").asc()]
    else:
        keys = [F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)]
    return qs.order_by(*keys, "-id" if descending else "id")


def _get(page: Page, subscriber_id: str) -> Subscriber:
    subscriber = (
        Subscriber.objects.for_page(page)
        .select_related("page")
        .prefetch_related("components")
        .filter(code=subscriber_id)
        .first()
    )
    if subscriber is None:
        raise NotFound("No such subscriber.")
    return subscriber


class SubscriberAPIView(PageAPIView):
    read_role = Role.COMMANDER
    write_role = Role.COMMANDER

    def base_queryset(self):
        return Subscriber.objects.for_page(self.page).select_related("page").prefetch_related("components")


class NamedPath(SubscriberAPIView):
    """A path beside `subscribers/{id}` (`count`, `unsubscribe`, ...): any other method there asks for the
    subscriber of that id, and there is none."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound("No such subscriber.")


class SubscriberInput(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=254)
    endpoint = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
    webhook_format = serializers.ChoiceField(choices=WebhookFormat.values, required=False)
    component_ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=1100
    )
    skip_confirmation_notification = serializers.BooleanField(required=False, default=False)
    phone_number = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    phone_country = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    page_access_user = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    def validate_component_ids(self, codes):
        return _component_ids(self.context["page"], codes)

    def validate_phone_number(self, value):
        if value:
            raise serializers.ValidationError(
                "SMS subscribers are not offered: give an email or an endpoint."
            )
        return value

    def validate_page_access_user(self, value):
        if value:
            raise serializers.ValidationError("Audience-specific pages are not offered.")
        return value


class SubscriberList(SubscriberAPIView):
    def get(self, request, page_id):
        values = _query(request, ListQuery)
        qs = _filtered(self.base_queryset(), values)
        q = values.get("q", "").strip()
        if q:
            qs = qs.filter(Q(email__icontains=q) | Q(endpoint__icontains=q))
        qs = _sorted(qs, values)
        return Response([subscriber_json(s) for s in paginate(request, qs, zero_based=True)])

    def post(self, request, page_id):
        data = SubscriberInput(data=body(request, "subscriber"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        email = (values.get("email") or "").strip()
        endpoint = (values.get("endpoint") or "").strip()
        # subscribe() is idempotent on the address: it answers the existing subscriber, so know beforehand
        # whether this request makes it (201, with a webhook's secret) or finds it (200, no secret).
        if endpoint:
            existing = Subscriber.objects.for_page(self.page).filter(
                kind=SubscriberKind.WEBHOOK, endpoint=endpoint
            )
        else:
            existing = Subscriber.objects.for_page(self.page).filter(
                kind=SubscriberKind.EMAIL, email=email.lower()
            )
        created = not existing.exists()
        subscriber = services.subscribe(
            page=self.page,
            actor=self.actor,
            email=email,
            endpoint=endpoint,
            webhook_format=values.get("webhook_format") or WebhookFormat.STATUSPAGE,
            components=values.get("component_ids", []),
            skip_confirmation=values["skip_confirmation_notification"],
        )
        return Response(
            subscriber_json(_get(self.page, subscriber.code), secret=created),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SubscriberUpdate(serializers.Serializer):
    component_ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, allow_empty=True, max_length=1100
    )

    def validate_component_ids(self, codes):
        return _component_ids(self.context["page"], codes)


class SubscriberDetail(SubscriberAPIView):
    def get(self, request, page_id, subscriber_id):
        return Response(subscriber_json(_get(self.page, subscriber_id)))

    def patch(self, request, page_id, subscriber_id):
        subscriber = _get(self.page, subscriber_id)
        raw = body(request, "subscriber")
        errors = {}
        for field in ("email", "endpoint"):
            given = str(raw.get(field) or "").strip().lower()
            if field in raw and given != getattr(subscriber, field).lower():
                errors[field] = ["An address cannot be changed: add the new one and unsubscribe this one."]
        if errors:
            raise serializers.ValidationError(errors)
        data = SubscriberUpdate(data=raw, context={"page": self.page})
        data.is_valid(raise_exception=True)
        if "component_ids" in data.validated_data:
            services.set_components(
                subscriber=subscriber, components=data.validated_data["component_ids"], actor=self.actor
            )
        return Response(subscriber_json(_get(self.page, subscriber_id)))

    put = patch

    def delete(self, request, page_id, subscriber_id):
        """Unsubscribe, as Statuspage does; the row stays so the address is never mailed again. Ours:
        `?purge=true` deletes the subscriber and its delivery history (a request to be forgotten)."""
        subscriber = _get(self.page, subscriber_id)
        try:
            purge = serializers.BooleanField().to_internal_value(request.query_params.get("purge") or False)
        except serializers.ValidationError:
            raise serializers.ValidationError({"purge": ["true or false."]}) from None
        if purge:
            services.remove_subscriber(subscriber=subscriber, actor=self.actor)
            return Response(status=status.HTTP_204_NO_CONTENT)
        services.unsubscribe(subscriber=subscriber, actor=self.actor)
        return Response(subscriber_json(_get(self.page, subscriber_id)))


class ResendConfirmation(SubscriberAPIView):
    def post(self, request, page_id, subscriber_id):
        subscriber = _get(self.page, subscriber_id)
        services.resend_confirmation(subscriber=subscriber, actor=self.actor)
        return Response({"affected": 1}, status=status.HTTP_202_ACCEPTED)


class BulkInput(serializers.Serializer):
    subscribers = serializers.JSONField()
    type = serializers.ChoiceField(choices=TYPES, required=False)
    state = serializers.ChoiceField(choices=list(STATES), required=False)
    skip_unsubscription_notification = serializers.BooleanField(required=False)

    def validate_subscribers(self, value):
        if value == "all":
            return value
        if isinstance(value, str):  # form-encoded `subscribers=a,b` (with [] it arrives as a list)
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            raise serializers.ValidationError('Give a list of subscriber ids, or "all".')
        codes = list(dict.fromkeys(v.strip() for v in value))
        if len(codes) > BULK_LIMIT:
            raise serializers.ValidationError(
                f'At most {BULK_LIMIT} ids; use "all" with type and state to reach more.'
            )
        found = set(
            Subscriber.objects.for_page(self.context["page"])
            .filter(code__in=[code for code in codes if CODE.fullmatch(code)])
            .values_list("code", flat=True)
        )
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(f"No such subscriber on this page: {', '.join(missing)}.")
        return codes


class SubscriberBulk(NamedPath):
    """POST /subscribers/unsubscribe | reactivate | resend_confirmation with `subscribers` (≤100 ids or
    "all") and the filters `type` and `state`. Unsubscribing "all" takes only active subscribers unless
    `state` says otherwise (as on Statuspage); with a list of ids, `state` filters only when given.
    Reactivating touches only quarantined subscribers, resending only unconfirmed email subscribers.
    Answers how many were changed (or asked): `{"affected": n}`."""

    action = None  # "unsubscribe", "reactivate" or "resend_confirmation"
    COMMANDS = {
        "unsubscribe": services.unsubscribe_many,
        "reactivate": services.reactivate_many,
        "resend_confirmation": services.resend_confirmations,
    }

    def post(self, request, page_id):
        data = BulkInput(data=body(request, "subscriber"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        qs = Subscriber.objects.for_page(self.page)
        state = values.get("state")
        if values["subscribers"] == "all":
            state = state or ("active" if self.action == "unsubscribe" else None)
        else:
            qs = qs.filter(code__in=values["subscribers"])
        if values.get("type") is not None:
            qs = qs.filter(kind=values["type"]) if values["type"] in SubscriberKind.values else qs.none()
        if state is not None:
            qs = qs.filter(state__in=STATES[state])
        n = self.COMMANDS[self.action](page=self.page, subscribers=qs, actor=self.actor)
        answer = status.HTTP_202_ACCEPTED if self.action == "resend_confirmation" else status.HTTP_200_OK
        return Response({"affected": n}, status=answer)


class SubscriberCount(NamedPath):
    """Statuspage's count by type, after the `type` and `state` filters."""

    def get(self, request, page_id):
        values = _query(request, FilterQuery)
        rows = dict(
            _filtered(Subscriber.objects.for_page(self.page), values)
            .order_by()
            .values_list("kind")
            .annotate(n=Count("id"))
            .values_list("kind", "n")
        )
        return Response({kind: rows.get(kind, 0) for kind in TYPES})


class SubscriberHistogram(NamedPath):
    """Per type, per state: Statuspage's `active`, `unconfirmed`, `quarantined` and `total` (those three),
    and ours beside them: `unsubscribed`."""

    def get(self, request, page_id):
        rows = (
            Subscriber.objects.for_page(self.page)
            .order_by()
            .values_list("kind", "state")
            .annotate(n=Count("id"))
        )
        counts = {(kind, state): n for kind, state, n in rows}
        out = {}
        for kind in TYPES:
            by_state = {state: counts.get((kind, state), 0) for state in SubscriberState.values}
            out[kind] = {
                "active": by_state[SubscriberState.ACTIVE],
                "unconfirmed": by_state[SubscriberState.UNCONFIRMED],
                "quarantined": by_state[SubscriberState.QUARANTINED],
                "total": sum(by_state[s] for s in STATES["all"]),
                "unsubscribed": by_state[SubscriberState.UNSUBSCRIBED],
            }
        return Response(out)


class UnsubscribedList(NamedPath):
    """Who left, newest first; `page` counts from 0 as in the subscriber list."""

    def get(self, request, page_id):
        qs = (
            self.base_queryset()
            .filter(state=SubscriberState.UNSUBSCRIBED)
            .order_by(F("unsubscribed_at").desc(nulls_last=True), "-id")
        )
        return Response([subscriber_json(s) for s in paginate(request, qs, zero_based=True)])
