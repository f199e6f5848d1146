"""The OpenAPI description of the subscriber, incident-template and ext/ endpoints, in the manner of
statuspage/api/schema.py (whose helpers and shapes it uses): the documents those views build with explicit
functions (`subscriber_json`, `template_json`, ...) described once more, with every answer they give."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from components.models import ComponentStatus
from statuspage.api.schema import (
    IDEMPOTENCY,
    PAGING,
    READ_ERRORS,
    WRITE_ERRORS,
    ComponentOut,
    ErrorOut,
    Stamp,
    _nullable,
    wrapped,
)
from subscribers.models import DeliveryState, EventType, SubscriberState, WebhookFormat

LIST_ERRORS = {**READ_ERRORS, 400: OpenApiResponse(ErrorOut, "A query parameter is not valid.")}
GUARDED_READ = {**LIST_ERRORS, 403: OpenApiResponse(ErrorOut, "The key's role may not read this.")}
CREATE_ERRORS = {
    **WRITE_ERRORS,
    409: OpenApiResponse(ErrorOut, "A request with this Idempotency-Key is still running."),
    422: OpenApiResponse(ErrorOut, "This Idempotency-Key was used for a different request."),
}


# --- Shapes -----------------------------------------------------------------------------------------------


class SubscriberOut(serializers.Serializer):
    id = serializers.CharField()
    mode = serializers.ChoiceField(choices=["email", "webhook"])
    email = _nullable(serializers.CharField)
    endpoint = _nullable(serializers.CharField)
    quarantined_at = _nullable(Stamp)
    purge_at = _nullable(Stamp)
    components = serializers.ListField(child=serializers.CharField())
    created_at = Stamp()
    skip_unsubscription_notification = serializers.BooleanField(help_text="Ours: always true.")
    state = serializers.ChoiceField(choices=SubscriberState.values, help_text="Ours.")
    webhook_format = serializers.ChoiceField(
        choices=WebhookFormat.values, allow_null=True, help_text="Ours: a webhook's payload format."
    )
    confirmed_at = _nullable(Stamp, help_text="Ours.")
    secret = serializers.CharField(
        required=False, help_text="A webhook's signing secret: only in the answer that made it."
    )


class SubscriberIn(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True)
    endpoint = serializers.CharField(required=False, allow_blank=True)
    webhook_format = serializers.ChoiceField(choices=WebhookFormat.values, required=False)
    component_ids = serializers.ListField(child=serializers.CharField(), required=False)
    skip_confirmation_notification = serializers.BooleanField(required=False)


class SubscriberPatchIn(serializers.Serializer):
    component_ids = serializers.ListField(child=serializers.CharField(), required=False)


class BulkIn(serializers.Serializer):
    subscribers = serializers.JSONField(help_text='Up to 100 subscriber ids, or "all".')
    type = serializers.CharField(required=False)
    state = serializers.CharField(required=False)
    skip_unsubscription_notification = serializers.BooleanField(required=False)


class BulkResultOut(serializers.Serializer):
    affected = serializers.IntegerField()


class CountOut(serializers.Serializer):
    email = serializers.IntegerField()
    sms = serializers.IntegerField()
    webhook = serializers.IntegerField()
    slack = serializers.IntegerField()
    integration_partner = serializers.IntegerField()


class StateCountOut(serializers.Serializer):
    active = serializers.IntegerField()
    unconfirmed = serializers.IntegerField()
    quarantined = serializers.IntegerField()
    total = serializers.IntegerField()
    unsubscribed = serializers.IntegerField(help_text="Ours.")


class HistogramOut(serializers.Serializer):
    email = StateCountOut()
    sms = StateCountOut()
    webhook = StateCountOut()
    slack = StateCountOut()
    integration_partner = StateCountOut()


class TemplateOut(serializers.Serializer):
    id = serializers.CharField()
    components = ComponentOut(many=True)
    name = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    group_id = _nullable(serializers.CharField)
    update_status = serializers.CharField()
    should_tweet = serializers.BooleanField()
    should_send_notifications = serializers.BooleanField()


class TemplateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=25_000)
    group_id = serializers.CharField(required=False, allow_null=True, help_text="Accepted and ignored.")
    update_status = serializers.CharField(required=False)
    should_tweet = serializers.BooleanField(required=False, help_text="Accepted and ignored.")
    should_send_notifications = serializers.BooleanField(required=False)
    component_ids = serializers.ListField(child=serializers.CharField(), required=False)
    component_status = serializers.ChoiceField(choices=ComponentStatus.values, required=False)


class ReportOut(serializers.Serializer):
    updates = serializers.IntegerField()
    longest_gap_seconds = _nullable(serializers.IntegerField)
    on_time_share = _nullable(serializers.FloatField)
    reminders = serializers.IntegerField()
    escalations = serializers.IntegerField()
    time_to_first_update_seconds = _nullable(serializers.IntegerField)
    time_to_resolve_seconds = _nullable(serializers.IntegerField)


class IncidentRefOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    impact = serializers.CharField()
    started_at = _nullable(Stamp)
    resolved_at = _nullable(Stamp)


class ReportRowOut(ReportOut):
    incident = IncidentRefOut()


class PageCadenceOut(serializers.Serializer):
    since = Stamp()
    until = Stamp()
    incidents = serializers.IntegerField()
    updates = serializers.IntegerField()
    on_time_share = _nullable(serializers.FloatField)
    longest_gap_seconds = _nullable(serializers.IntegerField)
    reminders = serializers.IntegerField()
    escalations = serializers.IntegerField()
    median_time_to_resolve_seconds = _nullable(serializers.IntegerField)
    rows = ReportRowOut(many=True)


class IncidentCadenceOut(ReportOut):
    incident = IncidentRefOut()
    commander = _nullable(serializers.CharField)
    cadence_minutes = serializers.IntegerField()
    next_update_due_at = _nullable(Stamp)
    due_state = serializers.ChoiceField(choices=["ok", "soon", "overdue", "none"])


class DeliveryCountsOut(serializers.Serializer):
    pending = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    retrying = serializers.IntegerField()
    dead = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class EventOut(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=EventType.values)
    created_at = Stamp()
    fanned_out_at = _nullable(Stamp)
    incident_id = _nullable(serializers.CharField)
    incident_update_id = _nullable(serializers.CharField)
    component_id = _nullable(serializers.CharField)
    component_ids = serializers.ListField(child=serializers.CharField())
    data = serializers.DictField()
    deliveries = DeliveryCountsOut()


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The row id: deliveries have no public id.")
    event_id = serializers.CharField()
    event_type = serializers.CharField(help_text="The event's type.")
    subscriber_id = serializers.CharField()
    channel = serializers.CharField(help_text="The subscriber's mode: email or webhook.")
    state = serializers.ChoiceField(choices=DeliveryState.values)
    attempts = serializers.IntegerField()
    next_attempt_at = _nullable(Stamp)
    last_error = _nullable(serializers.CharField)
    sent_at = _nullable(Stamp)
    created_at = Stamp()


class IncidentDeliveriesOut(serializers.Serializer):
    incident_id = serializers.CharField()
    counts = DeliveryCountsOut()
    deliveries = DeliveryOut(many=True)


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The row id: audit events have no public id.")
    action = serializers.CharField()
    description = serializers.CharField()
    actor = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    before = serializers.DictField()
    after = serializers.DictField()
    created_at = Stamp()


# --- Operations ------------------------------------------------------------------------------------------


def _param(name: str, description: str, enum=None) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, description=description, enum=enum)


ZERO_PAGING = [
    OpenApiParameter("page", OpenApiTypes.INT, description="From 0."),
    OpenApiParameter("per_page", OpenApiTypes.INT, description="At most 100 (the default)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Same as per_page."),
]
TYPE = _param("type", "Subscriber type.", ["email", "sms", "webhook", "slack", "integration_partner"])
STATE = _param("state", "Default active; `all` is active, unconfirmed and quarantined.", None)
WINDOW = [
    _param("since", "ISO date (the whole day, in the page's zone) or date-time."),
    _param("until", "ISO date (that day included) or date-time."),
]


def get(out, *, many=False, params=(), summary="", tags=(), errors=None, operation_id=None):
    """A read; its errors default to those of a list with query parameters (400)."""
    return extend_schema(
        responses={200: out(many=many), **(errors or LIST_ERRORS)},
        parameters=list(params),
        summary=summary,
        tags=list(tags),
        operation_id=operation_id,
    )


def post(request, responses: dict, *, summary="", tags=(), create=False, params=(), operation_id=None):
    return extend_schema(
        request=request,
        responses={**responses, **(CREATE_ERRORS if create else WRITE_ERRORS)},
        parameters=[IDEMPOTENCY, *params] if create else list(params),
        summary=summary,
        tags=list(tags),
        operation_id=operation_id,
    )


def annotate() -> None:
    """Attach the schema to the views. Called once, from statuspage/api/urls.py."""
    from incidents import api as incident_api
    from statuspage.api import extras
    from subscribers import api as subscriber_api

    tags = ["subscribers"]
    listing = [
        _param("q", "Email or endpoint contains."),
        TYPE,
        STATE,
        _param(
            "sort_field",
            "Sort by.",
            ["primary", "email", "endpoint", "created_at", "quarantined_at", "relevance"],
        ),
        _param("sort_direction", "asc (default) or desc.", ["asc", "desc"]),
        *ZERO_PAGING,
    ]
    extend_schema_view(
        get=get(
            SubscriberOut,
            many=True,
            params=listing,
            summary="List subscribers",
            errors=GUARDED_READ,
            tags=tags,
        ),
        post=post(
            wrapped("SubscriberRequest", "subscriber", SubscriberIn()),
            {201: SubscriberOut, 200: OpenApiResponse(SubscriberOut, "The page already had this address.")},
            create=True,
            summary="Create a subscriber",
            tags=tags,
        ),
    )(subscriber_api.SubscriberList)
    patch = post(
        wrapped("SubscriberPatchRequest", "subscriber", SubscriberPatchIn()),
        {200: SubscriberOut},
        summary="Change a subscriber's components",
        tags=tags,
    )
    extend_schema_view(
        get=get(SubscriberOut, summary="Get a subscriber", errors=GUARDED_READ, tags=tags),
        patch=patch,
        put=patch,
        delete=extend_schema(
            request=None,
            parameters=[
                OpenApiParameter("purge", OpenApiTypes.BOOL, description="Ours: delete it outright.")
            ],
            responses={
                200: OpenApiResponse(SubscriberOut, "Unsubscribed."),
                204: OpenApiResponse(description="Deleted (purge=true)."),
                **WRITE_ERRORS,
            },
            summary="Unsubscribe (or delete) a subscriber",
            tags=tags,
        ),
    )(subscriber_api.SubscriberDetail)
    extend_schema_view(
        post=post(
            None,
            {202: BulkResultOut},
            summary="Resend confirmation to a subscriber",
            tags=tags,
            operation_id="subscriber_resend_confirmation",
        ),
    )(subscriber_api.ResendConfirmation)
    extend_schema_view(
        post=post(
            BulkIn,
            {200: BulkResultOut, 202: BulkResultOut},
            summary="Unsubscribe, reactivate or resend confirmations to a list of subscribers",
            tags=tags,
        ),
    )(subscriber_api.SubscriberBulk)
    extend_schema_view(
        get=get(
            CountOut,
            params=[TYPE, STATE],
            summary="Count subscribers by type",
            errors=GUARDED_READ,
            tags=tags,
        )
    )(subscriber_api.SubscriberCount)
    extend_schema_view(
        get=get(HistogramOut, summary="Subscribers by type and state", errors=GUARDED_READ, tags=tags)
    )(subscriber_api.SubscriberHistogram)
    extend_schema_view(
        get=get(
            SubscriberOut,
            many=True,
            params=ZERO_PAGING,
            summary="List unsubscribed subscribers",
            errors=GUARDED_READ,
            tags=tags,
        )
    )(subscriber_api.UnsubscribedList)

    tags = ["incident templates"]
    extend_schema_view(
        get=get(TemplateOut, many=True, params=PAGING, summary="List incident templates", tags=tags),
        post=post(
            wrapped("TemplateRequest", "template", TemplateIn()),
            {201: TemplateOut},
            create=True,
            summary="Create an incident template",
            tags=tags,
        ),
    )(incident_api.TemplateList)
    template_patch = post(
        wrapped("TemplatePatchRequest", "template", TemplateIn(partial=True)),
        {200: TemplateOut},
        summary="Update an incident template",
        tags=tags,
    )
    extend_schema_view(
        get=get(TemplateOut, summary="Get an incident template", tags=tags, errors=READ_ERRORS),
        patch=template_patch,
        put=template_patch,
        delete=extend_schema(
            request=None,
            responses={204: OpenApiResponse(description="Deleted."), **WRITE_ERRORS},
            summary="Delete an incident template",
            tags=tags,
        ),
    )(incident_api.TemplateDetail)

    tags = ["ours: cadence, deliveries, audit"]
    extend_schema_view(
        get=get(PageCadenceOut, params=WINDOW, summary="The page's cadence report", tags=tags)
    )(extras.PageCadence)
    extend_schema_view(
        get=get(IncidentCadenceOut, summary="One incident's cadence", tags=tags, errors=READ_ERRORS)
    )(extras.IncidentCadence)
    extend_schema_view(
        get=get(
            EventOut,
            many=True,
            params=[_param("type", "Event type.", EventType.values), *PAGING],
            summary="Outbox events",
            tags=tags,
        )
    )(extras.EventList)
    state = _param("state", "Delivery state.", DeliveryState.values)
    extend_schema_view(
        get=get(
            DeliveryOut,
            many=True,
            params=[state, *PAGING],
            summary="An event's deliveries",
            tags=tags,
            errors=GUARDED_READ,
        )
    )(extras.EventDeliveries)
    extend_schema_view(
        get=get(
            IncidentDeliveriesOut,
            params=[state, *PAGING],
            summary="An incident's deliveries",
            tags=tags,
            errors=GUARDED_READ,
        )
    )(extras.IncidentDeliveries)
    extend_schema_view(
        get=get(
            AuditEventOut,
            many=True,
            params=[
                _param("action", "e.g. incident.created"),
                _param("object_type", "e.g. incident"),
                _param("object_id", "The object's id."),
                *WINDOW,
                *PAGING,
            ],
            summary="The audit log (owner keys)",
            tags=tags,
            errors=GUARDED_READ,
        )
    )(extras.AuditEventList)
