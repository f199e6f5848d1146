"""The OpenAPI 3 schema of the management API (drf-spectacular), served at /api/schema/.

The views build Statuspage's documents with explicit functions (`component_json`, `incident_json`, ...),
because those shapes are a public contract. This module describes the same shapes for the schema, and
attaches requests, responses and errors to every operation. The schema is checked against the running API
by schemathesis (tests/api/test_schema.py), so a drift between a document and its description fails CI.
"""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

from components.models import ComponentStatus
from incidents.models import Impact, IncidentStatus, MaintenanceStatus

# Choice sets named once in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
COMPONENT_STATUSES = ComponentStatus.values
IMPACTS = Impact.values
INCIDENT_STATUSES = [*IncidentStatus.values, *MaintenanceStatus.values]

_SUFFIX = re.compile(r"\(\?:\\\.json\)\?")


def drop_json_suffix(endpoints, **kwargs):
    """Every path takes an optional `.json` suffix; the schema lists each path once, without it. A view
    mounted for a subset of its methods (`incidents/unresolved`, `postmortem/publish`: `as_view(
    http_method_names=[...])`) lists only those."""
    out = []
    for path, regex, method, view in endpoints:
        served = (getattr(view, "initkwargs", None) or {}).get("http_method_names")
        if served is not None and method.lower() not in served:
            continue
        out.append((_SUFFIX.sub("", path), _SUFFIX.sub("", regex), method, view))
    return out


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "statuspage.api.authentication.APIKeyAuthentication"
    name = "OAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`OAuth <key>` as Statuspage (also `Bearer <key>`, or `?api_key=<key>`).",
        }


# --- Shapes -----------------------------------------------------------------------------------------

Stamp = serializers.DateTimeField  # milliseconds and the page's UTC offset


def _nullable(field_class, **kwargs):
    return field_class(allow_null=True, **kwargs)


class ErrorOut(serializers.Serializer):
    message = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors (400): each field with its messages.",
    )


class PageOut(serializers.Serializer):
    id = serializers.CharField()
    created_at = Stamp()
    updated_at = Stamp()
    name = serializers.CharField()
    page_description = _nullable(serializers.CharField)
    headline = _nullable(serializers.CharField)
    branding = serializers.CharField()
    subdomain = serializers.CharField()
    domain = _nullable(serializers.CharField)
    url = serializers.CharField()
    support_url = _nullable(serializers.CharField)
    hidden_from_search = serializers.BooleanField()
    allow_page_subscribers = serializers.BooleanField()
    allow_incident_subscribers = serializers.BooleanField()
    allow_email_subscribers = serializers.BooleanField()
    allow_sms_subscribers = serializers.BooleanField()
    allow_rss_atom_feeds = serializers.BooleanField()
    allow_webhook_subscribers = serializers.BooleanField()
    time_zone = serializers.CharField()
    css_link_color = serializers.CharField()
    homepage_url = _nullable(serializers.CharField)
    update_cadence_minutes = serializers.IntegerField()
    monitoring_cadence_minutes = serializers.IntegerField()
    reminder_lead_minutes = serializers.IntegerField()
    incidents_raise_indicator = serializers.BooleanField()
    show_next_update = serializers.BooleanField()
    escalation_webhook_url = _nullable(serializers.CharField)
    visibility = serializers.ChoiceField(
        choices=["public", "private"], help_text="Ours: docs/private-pages.md."
    )
    allowed_ip_ranges = serializers.ListField(child=serializers.CharField())
    allowed_viewer_emails = serializers.ListField(child=serializers.CharField())


class ComponentOut(serializers.Serializer):
    id = serializers.CharField()
    page_id = serializers.CharField()
    group_id = _nullable(serializers.CharField)
    created_at = Stamp()
    updated_at = Stamp()
    group = serializers.BooleanField()
    name = serializers.CharField()
    description = _nullable(serializers.CharField)
    position = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ComponentStatus.values)
    showcase = serializers.BooleanField()
    only_show_if_degraded = serializers.BooleanField()
    automation_email = _nullable(serializers.CharField)
    start_date = _nullable(serializers.DateField)
    is_public = serializers.BooleanField()
    depends_on = serializers.ListField(
        child=serializers.DictField(), help_text="Ours: [{component_id, kind}], what this component needs."
    )


class GroupOut(serializers.Serializer):
    id = serializers.CharField()
    page_id = serializers.CharField()
    name = serializers.CharField()
    description = _nullable(serializers.CharField)
    components = serializers.ListField(child=serializers.CharField())
    position = serializers.IntegerField()
    created_at = Stamp()
    updated_at = Stamp()
    status = serializers.ChoiceField(choices=ComponentStatus.values)
    is_public = serializers.BooleanField()
    collapsed = serializers.BooleanField()


class AffectedComponentOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    old_status = serializers.ChoiceField(choices=ComponentStatus.values)
    new_status = serializers.ChoiceField(choices=ComponentStatus.values)


class IncidentUpdateOut(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=INCIDENT_STATUSES)
    body = serializers.CharField(allow_blank=True)
    incident_id = serializers.CharField()
    created_at = Stamp()
    updated_at = Stamp()
    display_at = Stamp()
    affected_components = AffectedComponentOut(many=True, allow_null=True)
    deliver_notifications = serializers.BooleanField()
    custom_tweet = _nullable(serializers.CharField)
    tweet_id = _nullable(serializers.CharField)


class PublicComponentOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=ComponentStatus.values)
    created_at = Stamp()
    updated_at = Stamp()
    position = serializers.IntegerField()
    description = _nullable(serializers.CharField)
    showcase = serializers.BooleanField()
    start_date = _nullable(serializers.DateField)
    group_id = _nullable(serializers.CharField)
    page_id = serializers.CharField()
    group = serializers.BooleanField()
    only_show_if_degraded = serializers.BooleanField()


class IncidentOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=INCIDENT_STATUSES)
    created_at = Stamp()
    updated_at = Stamp()
    monitoring_at = _nullable(Stamp)
    resolved_at = _nullable(Stamp)
    impact = serializers.ChoiceField(choices=Impact.values)
    shortlink = serializers.CharField()
    started_at = _nullable(Stamp)
    page_id = serializers.CharField()
    incident_updates = IncidentUpdateOut(many=True)
    components = PublicComponentOut(many=True)
    impact_override = serializers.ChoiceField(choices=Impact.values, allow_null=True)
    metadata = serializers.DictField()
    backfilled = serializers.BooleanField()
    scheduled_for = _nullable(Stamp)
    scheduled_until = _nullable(Stamp)
    scheduled_remind_prior = serializers.BooleanField()
    scheduled_auto_in_progress = serializers.BooleanField()
    scheduled_auto_completed = serializers.BooleanField()
    reminder_intervals = _nullable(serializers.CharField)
    postmortem_body = _nullable(serializers.CharField)
    postmortem_body_last_updated_at = _nullable(Stamp)
    postmortem_published_at = _nullable(Stamp)
    postmortem_ignored = serializers.BooleanField()
    postmortem_notified_subscribers = serializers.BooleanField()
    postmortem_notified_twitter = serializers.BooleanField()
    commander = _nullable(serializers.CharField, help_text="Ours: the incident commander.")
    next_update_due_at = _nullable(Stamp, help_text="Ours: when the next public update is due.")


class PostmortemOut(serializers.Serializer):
    preview_key = _nullable(serializers.CharField, required=False)
    body = _nullable(serializers.CharField)
    body_updated_at = _nullable(Stamp)
    body_draft = _nullable(serializers.CharField)
    body_draft_updated_at = _nullable(Stamp, required=False)
    published_at = _nullable(Stamp)
    notify_subscribers = serializers.BooleanField(required=False)
    notify_twitter = serializers.BooleanField(required=False)
    custom_tweet = _nullable(serializers.CharField, required=False)


# --- Operations --------------------------------------------------------------------------------------

READ_ERRORS = {
    400: OpenApiResponse(ErrorOut, "An invalid query parameter: `message` and the field `errors`."),
    401: OpenApiResponse(ErrorOut, "No key, or a revoked or expired one."),
    404: OpenApiResponse(ErrorOut, "No such object on the key's page (another page's objects too)."),
    429: OpenApiResponse(ErrorOut, "Over the key's rate limit; see Retry-After."),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: OpenApiResponse(ErrorOut, "Invalid input: `message` and the field `errors`."),
    403: OpenApiResponse(ErrorOut, "The key's role may not do this."),
    415: OpenApiResponse(ErrorOut, "A body that is not JSON, form-encoded or multipart."),
}
CREATE_ERRORS = {
    **WRITE_ERRORS,
    409: OpenApiResponse(ErrorOut, "A request with this Idempotency-Key is still running."),
    422: OpenApiResponse(ErrorOut, "This Idempotency-Key was used for a different request."),
}
IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Ours: a retried POST with the same key and body returns the first answer (24 hours).",
)
PAGING = [
    OpenApiParameter("page", OpenApiTypes.INT, description="From 1."),
    OpenApiParameter("per_page", OpenApiTypes.INT, description="At most 100 (the default)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Same as per_page."),
]


def wrapped(name: str, key: str, serializer) -> serializers.Serializer:
    """Statuspage's request wrapping: `{"<key>": {...fields...}}`."""
    return inline_serializer(name, fields={key: serializer})


def read(out, *, many=False, params=(), summary="", tags=None):
    return extend_schema(
        responses={200: out(many=many) if isinstance(out, type) else out, **READ_ERRORS},
        parameters=list(params),
        summary=summary,
        tags=tags,
    )


def write(request, out, *, code=200, summary="", tags=None, create=False, params=()):
    responses = {code: out, **(CREATE_ERRORS if create else WRITE_ERRORS)}
    return extend_schema(
        request=request,
        responses=responses,
        parameters=[IDEMPOTENCY, *params] if create else list(params),
        summary=summary,
        tags=tags,
    )


def remove(out=None, *, summary="", tags=None):
    responses = {200: out} if out is not None else {204: OpenApiResponse(description="Deleted.")}
    return extend_schema(request=None, responses={**responses, **WRITE_ERRORS}, summary=summary, tags=tags)


def annotate() -> None:
    """Attach the schema to the views. Called once, from statuspage/api/urls.py."""
    from components import api as component_api
    from incidents import api as incident_api
    from statuspage.api import pages

    tags = ["pages"]
    extend_schema_view(get=read(PageOut, many=True, summary="The pages this key may see", tags=tags))(
        pages.PageList
    )
    page_in = wrapped("PageRequest", "page", pages.PageInput(partial=True))
    extend_schema_view(
        get=read(PageOut, summary="Get a page", tags=tags),
        patch=write(page_in, PageOut, summary="Update a page", tags=tags),
        put=write(page_in, PageOut, summary="Update a page", tags=tags),
    )(pages.PageDetail)

    tags = ["components"]
    component_in = wrapped("ComponentRequest", "component", component_api.ComponentInput())
    component_patch = wrapped(
        "ComponentPatchRequest", "component", component_api.ComponentInput(partial=True)
    )
    extend_schema_view(
        get=read(ComponentOut, many=True, params=PAGING, summary="List components", tags=tags),
        post=write(
            component_in, ComponentOut, code=201, create=True, summary="Create a component", tags=tags
        ),
    )(component_api.ComponentList)
    extend_schema_view(
        get=read(ComponentOut, summary="Get a component", tags=tags),
        patch=write(component_patch, ComponentOut, summary="Update a component", tags=tags),
        put=write(component_patch, ComponentOut, summary="Update a component", tags=tags),
        delete=remove(summary="Delete a component", tags=tags),
    )(component_api.ComponentDetail)

    tags = ["component groups"]
    group_in = wrapped("ComponentGroupRequest", "component_group", component_api.GroupInput())
    group_patch = wrapped(
        "ComponentGroupPatchRequest", "component_group", component_api.GroupInput(partial=True)
    )
    extend_schema_view(
        get=read(GroupOut, many=True, params=PAGING, summary="List component groups", tags=tags),
        post=write(group_in, GroupOut, code=201, create=True, summary="Create a component group", tags=tags),
    )(component_api.GroupList)
    extend_schema_view(
        get=read(GroupOut, summary="Get a component group", tags=tags),
        patch=write(group_patch, GroupOut, summary="Update a component group", tags=tags),
        put=write(group_patch, GroupOut, summary="Update a component group", tags=tags),
        delete=remove(GroupOut, summary="Delete a component group (its components stay)", tags=tags),
    )(component_api.GroupDetail)

    tags = ["incidents"]
    incident_in = wrapped("IncidentRequest", "incident", incident_api.IncidentInput())
    incident_patch = wrapped("IncidentPatchRequest", "incident", incident_api.IncidentInput(partial=True))
    query = OpenApiParameter("q", OpenApiTypes.STR, description="Name contains.")
    extend_schema_view(
        get=read(IncidentOut, many=True, params=[query, *PAGING], summary="List incidents", tags=tags),
        post=write(
            incident_in,
            IncidentOut,
            code=201,
            create=True,
            summary="Create an incident, a maintenance or a backfilled incident",
            tags=tags,
        ),
    )(incident_api.IncidentList)
    extend_schema_view(
        get=read(IncidentOut, summary="Get an incident", tags=tags),
        patch=write(incident_patch, IncidentOut, summary="Update an incident (a new update)", tags=tags),
        put=write(incident_patch, IncidentOut, summary="Update an incident (a new update)", tags=tags),
        delete=remove(IncidentOut, summary="Delete an incident", tags=tags),
    )(incident_api.IncidentDetail)
    update_in = wrapped("IncidentUpdateRequest", "incident_update", incident_api.UpdateInput(partial=True))
    extend_schema_view(
        get=read(IncidentUpdateOut, summary="Get an incident update", tags=tags),
        patch=write(update_in, IncidentUpdateOut, summary="Edit an incident update", tags=tags),
        put=write(update_in, IncidentUpdateOut, summary="Edit an incident update", tags=tags),
    )(incident_api.IncidentUpdateDetail)
    postmortem_in = wrapped(
        "PostmortemRequest",
        "postmortem",
        inline_serializer(
            "PostmortemFields",
            fields={
                "body_draft": serializers.CharField(required=False, allow_blank=True, max_length=100_000),
                "notify_subscribers": serializers.BooleanField(
                    required=False, help_text="On publish: tell subscribers."
                ),
            },
        ),
    )
    extend_schema_view(
        get=read(PostmortemOut, summary="Get the postmortem", tags=tags),
        put=write(
            postmortem_in, PostmortemOut, summary="Write the postmortem, or publish or revert it", tags=tags
        ),
        patch=write(
            postmortem_in, PostmortemOut, summary="Write the postmortem, or publish or revert it", tags=tags
        ),
        delete=remove(summary="Delete the postmortem", tags=tags),
    )(incident_api.PostmortemView)
