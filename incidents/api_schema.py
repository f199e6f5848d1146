"""The OpenAPI description of the change-review endpoints of incidents/api.py (`ext/incidents/{id}/impact|
approve|reject|cancel` and `ext/changes[...]`), in the manner of statuspage/api/schema.py, whose helpers
and shapes it uses. Called once from statuspage/api/urls.py."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers

from incidents.models import ReviewState
from statuspage.api.schema import (
    CREATE_ERRORS,
    IDEMPOTENCY,
    PAGING,
    READ_ERRORS,
    WRITE_ERRORS,
    IncidentOut,
    Stamp,
    _nullable,
    wrapped,
)

TAGS = ["change review"]


def _one_of(values) -> dict:
    # A pattern, not an enum: every enum becomes a component named after its field, and `state` is taken
    # by the subscribers' states.
    return {
        "type": "string",
        "pattern": "^(" + "|".join(values) + ")$",
        "description": "One of: " + ", ".join(values) + ".",
    }


@extend_schema_field(_one_of(ReviewState.values))
class ReviewStateField(serializers.CharField):
    pass


@extend_schema_field(_one_of([ReviewState.PENDING, ReviewState.DONE]))
class ChangeStepField(serializers.CharField):
    pass


class ChangeIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=25_000, required=False, allow_blank=True)
    component_ids = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    state = ChangeStepField(
        required=False, help_text="pending_approval: ask for approval; done: carried out."
    )
    submit = serializers.BooleanField(
        required=False, help_text="On create: ask for approval at once (default)."
    )


class ImpactOut(serializers.Serializer):
    component_id = serializers.CharField()
    name = serializers.CharField()
    public = serializers.BooleanField(help_text="False for an internal component (never shown publicly).")
    depth = serializers.IntegerField(help_text="0: touched by the change; n: n dependencies away.")
    kind = serializers.ChoiceField(choices=["hard", "soft"], allow_null=True)
    via = serializers.ListField(
        child=serializers.CharField(), help_text="The path, from a touched component."
    )


class ImpactDocOut(serializers.Serializer):
    id = serializers.CharField()
    potential_impact = ImpactOut(many=True)


class ApprovalOut(serializers.Serializer):
    state = ReviewStateField()
    author = _nullable(serializers.CharField)
    reviewed_by = _nullable(serializers.CharField)
    reviewed_at = _nullable(Stamp)
    comment = _nullable(serializers.CharField)


class MaintenanceOut(IncidentOut):
    scheduled_reminded_at = _nullable(Stamp)
    scheduled_auto_transition = serializers.BooleanField()
    auto_transition_to_maintenance_state = serializers.BooleanField()
    auto_transition_to_operational_state = serializers.BooleanField()
    auto_transition_deliver_notifications_at_start = serializers.BooleanField()
    auto_transition_deliver_notifications_at_end = serializers.BooleanField()
    scheduled_reminders = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ours: minutes before the start."
    )
    cancelled_at = _nullable(Stamp, help_text="Ours.")
    published_at = _nullable(Stamp, help_text="Ours: public from then on.")
    approval = ApprovalOut(help_text="Ours: the change review.")


class ChangeOut(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    state = ReviewStateField()
    component_ids = serializers.ListField(child=serializers.CharField())
    author = serializers.CharField(allow_blank=True)
    reviewed_by = _nullable(serializers.CharField)
    reviewed_at = _nullable(Stamp)
    review_comment = _nullable(serializers.CharField)
    done_at = _nullable(Stamp)
    created_at = Stamp()
    updated_at = Stamp()
    potential_impact = ImpactOut(many=True, required=False)


class ReviewIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


def _post(request, out, *, summary: str):
    return extend_schema(
        request=request,
        responses={200: out, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY],
        summary=summary,
        tags=TAGS,
    )


def annotate() -> None:
    from incidents import api

    review = wrapped("ReviewRequest", "review", ReviewIn())
    extend_schema_view(
        get=extend_schema(
            responses={200: ImpactDocOut, **READ_ERRORS},
            summary="A maintenance's potential impact (or an incident's reach)",
            tags=TAGS,
        )
    )(api.MaintenanceImpact)
    extend_schema_view(
        post=_post(review, MaintenanceOut, summary="Approve a maintenance (an owner other than its author)")
    )(api.MaintenanceApprove)
    extend_schema_view(post=_post(review, MaintenanceOut, summary="Reject a maintenance, saying why"))(
        api.MaintenanceReject
    )
    extend_schema_view(post=_post(review, MaintenanceOut, summary="Cancel a maintenance not started"))(
        api.MaintenanceCancel
    )
    change_in = wrapped("ChangeRequest", "change", ChangeIn())
    change_patch = wrapped("ChangePatchRequest", "change", ChangeIn(partial=True))
    state = OpenApiParameter(
        "state", OpenApiTypes.STR, enum=ReviewState.values, description="Only this state."
    )
    extend_schema_view(
        get=extend_schema(
            responses={200: ChangeOut(many=True), **READ_ERRORS},
            parameters=[state, *PAGING],
            summary="List change records",
            tags=TAGS,
        ),
        post=extend_schema(
            request=change_in,
            responses={201: ChangeOut, **CREATE_ERRORS},
            parameters=[IDEMPOTENCY],
            summary="Record a planned change",
            tags=TAGS,
        ),
    )(api.ChangeList)
    patch = extend_schema(
        request=change_patch,
        responses={200: ChangeOut, **WRITE_ERRORS},
        summary="Edit a change, ask for approval (state pending_approval) or mark it done",
        tags=TAGS,
    )
    extend_schema_view(
        get=extend_schema(
            responses={200: ChangeOut, **READ_ERRORS}, summary="Get a change record", tags=TAGS
        ),
        patch=patch,
        put=patch,
    )(api.ChangeDetail)
    extend_schema_view(
        post=_post(review, ChangeOut, summary="Approve a change (an owner other than its author)")
    )(api.ChangeApprove)
    extend_schema_view(post=_post(review, ChangeOut, summary="Reject a change, saying why"))(api.ChangeReject)
