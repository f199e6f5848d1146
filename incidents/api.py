"""Incidents, their updates and postmortems in the management API, in Statuspage's paths and shapes:
`/pages/{page_id}/incidents[/{id}]` (realtime, scheduled and backfilled alike), the lists `unresolved`,
`upcoming`, `scheduled` and `active_maintenance`, `incidents/{id}/incident_updates/{uid}` and
`incidents/{id}/postmortem[/publish|/revert]`. Every write is the console's service function."""

from __future__ import annotations

from django.db import transaction
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components.models import Component, ComponentStatus
from incidents import selectors, services
from incidents.models import (
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    MaintenanceStatus,
    Postmortem,
)
from statuspage.api.base import PageAPIView, body, paginate
from statuspage.serializers import incident_update_v2, incident_v2, timestamp


def incident_json(incident: Incident) -> dict:
    """The v2 incident plus the management fields Statuspage adds, and ours (commander, cadence)."""
    page = incident.page
    tz = page.tz
    out = incident_v2(incident, page)
    postmortem = getattr(incident, "postmortem", None)
    published = postmortem is not None and postmortem.published_at is not None
    out.update(
        {
            "impact_override": incident.impact_override or None,
            "metadata": {},
            "backfilled": incident.backfilled,
            "scheduled_for": timestamp(incident.scheduled_for, tz),
            "scheduled_until": timestamp(incident.scheduled_until, tz),
            "scheduled_remind_prior": False,  # no maintenance reminders until issue 6's scheduler
            "scheduled_auto_in_progress": False,
            "scheduled_auto_completed": False,
            "reminder_intervals": None,
            "postmortem_body": postmortem.body if published else None,
            "postmortem_body_last_updated_at": timestamp(postmortem.updated_at, tz) if postmortem else None,
            "postmortem_published_at": timestamp(postmortem.published_at, tz) if published else None,
            "postmortem_ignored": False,
            "postmortem_notified_subscribers": False,
            "postmortem_notified_twitter": False,
            # Ours: who runs it and when the next public update is due (the cadence).
            "commander": incident.commander.get_username() if incident.commander else None,
            "next_update_due_at": timestamp(incident.next_update_due_at, tz),
        }
    )
    return out


def postmortem_json(postmortem: Postmortem | None, incident: Incident) -> dict:
    tz = incident.page.tz
    if postmortem is None:
        return {"body": None, "body_draft": None, "published_at": None, "body_updated_at": None}
    published = postmortem.published_at is not None
    return {
        "preview_key": None,
        "body": postmortem.body if published else None,
        "body_updated_at": timestamp(postmortem.updated_at, tz) if published else None,
        "body_draft": postmortem.body,
        "body_draft_updated_at": timestamp(postmortem.updated_at, tz),
        "published_at": timestamp(postmortem.published_at, tz),
        "notify_subscribers": False,
        "notify_twitter": False,
        "custom_tweet": None,
    }


ALL_STATUSES = [*IncidentStatus.values, *MaintenanceStatus.values]
WRONG_STATUS = (
    "An incident is investigating, identified, monitoring or resolved; "
    "give scheduled_for and scheduled_until for a maintenance."
)


class IncidentInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=False)
    status = serializers.ChoiceField(choices=ALL_STATUSES, required=False)
    body = serializers.CharField(max_length=25_000, required=False, allow_blank=True)
    impact_override = serializers.ChoiceField(
        choices=[Impact.NONE, Impact.MAINTENANCE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL],
        required=False,
        allow_null=True,
        allow_blank=True,
    )
    component_ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=1100
    )
    components = serializers.DictField(
        child=serializers.ChoiceField(choices=ComponentStatus.values), required=False
    )
    deliver_notifications = serializers.BooleanField(required=False, default=True)
    backfilled = serializers.BooleanField(required=False, default=False)
    backfill_date = serializers.DateTimeField(required=False)
    scheduled_for = serializers.DateTimeField(required=False)
    scheduled_until = serializers.DateTimeField(required=False)
    metadata = serializers.DictField(required=False)

    def validate(self, data):
        page = self.context["page"]
        codes = list(dict.fromkeys([*data.get("component_ids", []), *data.get("components", {})]))
        found = {c.code: c for c in Component.objects.for_page(page).filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(
                {"component_ids": [f"No such component: {', '.join(missing)}."]}
            )
        # Affected components: the map sets a status; a bare id keeps the component's current one.
        wanted = data.get("components", {})
        data["affected"] = {found[code]: wanted.get(code, found[code].status) for code in codes}
        return data


def _maintenance_requested(data: dict) -> bool:
    return bool(data.get("scheduled_for") or data.get("scheduled_until")) or data.get("status") in (
        MaintenanceStatus.SCHEDULED,
    )


class IncidentList(PageAPIView):
    scope = None  # a subset: "unresolved", "upcoming", "scheduled", "active_maintenance"

    def get_queryset(self):
        qs = Incident.objects.for_page(self.page)
        if self.scope == "unresolved":
            qs = qs.open()
        elif self.scope in ("upcoming", "scheduled"):
            qs = qs.upcoming().order_by("scheduled_for", "id")
        elif self.scope == "active_maintenance":
            qs = qs.active_maintenances()
        query = self.request.query_params.get("q", "").strip()
        if query:
            qs = qs.filter(name__icontains=query[:200])
        return selectors.with_timeline(qs).select_related("page", "commander")

    def get(self, request, page_id):
        return Response([incident_json(i) for i in paginate(request, self.get_queryset())])

    def post(self, request, page_id):
        if self.scope is not None:
            return Response({"message": "Method not allowed."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        data = IncidentInput(data=body(request, "incident"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        incident = self._schedule(values) if _maintenance_requested(values) else self._open(values)
        return Response(incident_json(_reload(self.page, incident.code)), status=status.HTTP_201_CREATED)

    def _open(self, values: dict) -> Incident:
        incident_status = values.get("status") or IncidentStatus.INVESTIGATING
        if incident_status not in IncidentStatus.values:
            raise serializers.ValidationError({"status": [WRONG_STATUS]})
        backfilled = values.get("backfilled", False)
        if backfilled and values["affected"]:
            raise serializers.ValidationError(
                {"components": ["A backfilled incident cannot change components."]}
            )
        impact = values.get("impact_override") or ""
        if impact == Impact.MAINTENANCE:
            raise serializers.ValidationError(
                {"impact_override": ["Maintenance impact is for maintenances."]}
            )
        return services.create_incident(
            actor=self.actor,
            page=self.page,
            name=values["name"],
            body=values.get("body", ""),
            status=IncidentStatus.RESOLVED if backfilled else incident_status,
            components=values["affected"] or None,
            impact_override=impact,
            deliver_notifications=values.get("deliver_notifications", True) and not backfilled,
            backfilled=backfilled,
            at=values.get("backfill_date") if backfilled else None,
        )

    def _schedule(self, values: dict) -> Incident:
        start, end = values.get("scheduled_for"), values.get("scheduled_until")
        errors = {}
        if start is None:
            errors["scheduled_for"] = ["A maintenance needs scheduled_for."]
        if end is None:
            errors["scheduled_until"] = ["A maintenance needs scheduled_until."]
        if errors:
            raise serializers.ValidationError(errors)
        return services.schedule_maintenance(
            actor=self.actor,
            page=self.page,
            name=values["name"],
            scheduled_for=start,
            scheduled_until=end,
            body=values.get("body", ""),
            components=list(values["affected"]),
            deliver_notifications=values.get("deliver_notifications", True),
        )


def _reload(page, code: str) -> Incident:
    incident = (
        selectors.with_timeline(Incident.objects.for_page(page).filter(code=code))
        .select_related("page", "commander")
        .first()
    )
    if incident is None:
        raise NotFound("No such incident.")
    return incident


class IncidentDetail(PageAPIView):
    def get(self, request, page_id, incident_id):
        return Response(incident_json(_reload(self.page, incident_id)))

    def patch(self, request, page_id, incident_id):
        incident = _reload(self.page, incident_id)
        raw = body(request, "incident")
        data = IncidentInput(data=raw, partial=True, context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with transaction.atomic():
            if "name" in values or "impact_override" in values:
                impact = values.get("impact_override")
                if impact == Impact.MAINTENANCE and not incident.is_maintenance:
                    raise serializers.ValidationError(
                        {"impact_override": ["Maintenance impact is for maintenances."]}
                    )
                services.update_incident(
                    actor=self.actor,
                    incident=incident,
                    name=values.get("name"),
                    impact_override=None if "impact_override" not in values else (impact or ""),
                )
            # A new status, a body or component changes make a new update on the timeline, as on Statuspage.
            if "status" in values or values.get("body") or values["affected"]:
                services.post_update(
                    actor=self.actor,
                    incident=incident,
                    status=values.get("status") or incident.status,
                    body=values.get("body", ""),
                    components=values["affected"] or None,
                    deliver_notifications=values.get("deliver_notifications", True),
                )
        return Response(incident_json(_reload(self.page, incident_id)))

    put = patch

    def delete(self, request, page_id, incident_id):
        incident = _reload(self.page, incident_id)
        answer = incident_json(incident)
        services.delete_incident(actor=self.actor, incident=incident)
        return Response(answer, status=status.HTTP_200_OK)


class UpdateInput(serializers.Serializer):
    body = serializers.CharField(max_length=25_000, required=False)
    display_at = serializers.DateTimeField(required=False)
    deliver_notifications = serializers.BooleanField(required=False)
    wants_twitter_update = serializers.BooleanField(required=False)


class IncidentUpdateDetail(PageAPIView):
    """Edit a past update's text or display time (there is no create: PATCH the incident instead)."""

    def get_object(self, incident_id: str, update_id: str) -> IncidentUpdate:
        update = (
            IncidentUpdate.objects.filter(
                incident__page=self.page, incident__code=incident_id, code=update_id
            )
            .select_related("incident__page")
            .first()
        )
        if update is None:
            raise NotFound("No such incident update.")
        return update

    def get(self, request, page_id, incident_id, update_id):
        update = self.get_object(incident_id, update_id)
        return Response(incident_update_v2(update, update.incident, self.page))

    def patch(self, request, page_id, incident_id, update_id):
        update = self.get_object(incident_id, update_id)
        data = UpdateInput(data=body(request, "incident_update"), partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "body" in values or "display_at" in values:
            update = services.edit_update(
                actor=self.actor,
                update=update,
                body=values.get("body", update.body),
                display_at=values.get("display_at"),
            )
        update = self.get_object(incident_id, update_id)
        return Response(incident_update_v2(update, update.incident, self.page))

    put = patch


class PostmortemInput(serializers.Serializer):
    body_draft = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    body = serializers.CharField(max_length=100_000, required=False, allow_blank=True)


class PostmortemView(PageAPIView):
    step = None  # None, "publish" or "revert"

    def get_incident(self, incident_id: str) -> Incident:
        incident = (
            Incident.objects.for_page(self.page).filter(code=incident_id).select_related("page").first()
        )
        if incident is None:
            raise NotFound("No such incident.")
        return incident

    def _answer(self, incident: Incident) -> Response:
        postmortem = Postmortem.objects.filter(incident=incident).first()
        return Response(postmortem_json(postmortem, incident))

    def get(self, request, page_id, incident_id):
        if self.step is not None:
            return Response({"message": "Method not allowed."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        return self._answer(self.get_incident(incident_id))

    def put(self, request, page_id, incident_id):
        incident = self.get_incident(incident_id)
        if self.step == "publish":
            raw = body(request, "postmortem")
            notify = serializers.BooleanField().to_internal_value(raw.get("notify_subscribers", False))
            services.publish_postmortem(actor=self.actor, incident=incident, notify=notify)
        elif self.step == "revert":
            if not Postmortem.objects.filter(incident=incident).exists():
                raise NotFound("This incident has no postmortem.")
            services.unpublish_postmortem(actor=self.actor, incident=incident)
        else:
            data = PostmortemInput(data=body(request, "postmortem"))
            data.is_valid(raise_exception=True)
            text = data.validated_data.get("body_draft", data.validated_data.get("body", ""))
            services.save_postmortem(actor=self.actor, incident=incident, body=text)
        return self._answer(incident)

    patch = put

    def delete(self, request, page_id, incident_id):
        if self.step is not None:
            return Response({"message": "Method not allowed."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        incident = self.get_incident(incident_id)
        services.delete_postmortem(actor=self.actor, incident=incident)
        return Response(status=status.HTTP_204_NO_CONTENT)
