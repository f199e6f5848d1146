"""Incidents, their updates and postmortems in the management API, in Statuspage's paths and shapes:
`/pages/{page_id}/incidents[/{id}]` (realtime, scheduled and backfilled alike), the lists `unresolved`,
`upcoming`, `scheduled` and `active_maintenance`, `incidents/{id}/incident_updates/{uid}` and
`incidents/{id}/postmortem[/publish|/revert]`. Maintenances take Statuspage's `scheduled_*` and
`auto_transition_*` fields (and our `scheduled_reminders` list) and move by PATCHing their status. Our change
review lives under `ext/`: `ext/incidents/{id}/approve|reject|cancel|impact` and
`ext/changes[/{id}[/approve|/reject]]`. Every write is the console's service function."""

from __future__ import annotations

from django.db import transaction
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components.models import Component, ComponentStatus
from incidents import selectors, services
from incidents.models import (
    ACTIVE_MAINTENANCE_STATUSES,
    MAX_REMINDER_MINUTES,
    MAX_REMINDERS,
    ChangeRecord,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    MaintenanceStatus,
    Postmortem,
    ReviewState,
)
from incidents.serializers import statuspage_incident
from statuspage.api.base import Moment, PageAPIView, body, paginate
from statuspage.models import Role
from statuspage.serializers import incident_update_v2, timestamp
from statuspage.services import Actor


def incident_json(incident: Incident) -> dict:
    """Statuspage's management incident, and ours: the commander, when the next update is due (the
    cadence), and for a maintenance its reminders, publication, cancellation and change review."""
    tz = incident.page.tz
    out = statuspage_incident(incident)
    out["commander"] = incident.commander.get_username() if incident.commander else None
    out["next_update_due_at"] = timestamp(incident.next_update_due_at, tz)
    if incident.is_maintenance:
        out["scheduled_reminders"] = list(incident.reminders)
        out["cancelled_at"] = timestamp(incident.cancelled_at, tz)
        out["published_at"] = timestamp(incident.published_at, tz)
        out["approval"] = review_json(incident, tz)
    return out


def review_json(target, tz) -> dict:
    return {
        "state": target.review_state,
        "author": target.created_by.get_username() if target.created_by else None,
        "reviewed_by": target.reviewed_by.get_username() if target.reviewed_by else None,
        "reviewed_at": timestamp(target.reviewed_at, tz),
        "comment": target.review_comment or None,
    }


def impact_json(items) -> list[dict]:
    return [
        {
            "component_id": item.component.code,
            "name": item.component.name,
            "public": item.public,
            "depth": item.depth,
            "kind": item.kind or None,
            "via": [c.code for c in item.via],
        }
        for item in items
    ]


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
    backfill_date = Moment(required=False)
    scheduled_for = Moment(required=False)
    scheduled_until = Moment(required=False)
    scheduled_remind_prior = serializers.BooleanField(required=False)
    scheduled_reminders = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_REMINDER_MINUTES),
        required=False,
        max_length=MAX_REMINDERS,
    )
    scheduled_auto_in_progress = serializers.BooleanField(required=False)
    scheduled_auto_transition = serializers.BooleanField(required=False)  # the older name
    scheduled_auto_completed = serializers.BooleanField(required=False)
    auto_transition_to_maintenance_state = serializers.BooleanField(required=False)
    auto_transition_to_operational_state = serializers.BooleanField(required=False)
    auto_transition_deliver_notifications_at_start = serializers.BooleanField(required=False)
    auto_transition_deliver_notifications_at_end = serializers.BooleanField(required=False)
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


# Statuspage's maintenance fields as the arguments of the maintenance commands.
MAINTENANCE_OPTIONS = {
    "scheduled_auto_in_progress": "auto_start",
    "scheduled_auto_transition": "auto_start",
    "scheduled_auto_completed": "auto_complete",
    "auto_transition_to_maintenance_state": "set_components_at_start",
    "auto_transition_to_operational_state": "restore_components_at_end",
    "auto_transition_deliver_notifications_at_start": "notify_at_start",
    "auto_transition_deliver_notifications_at_end": "notify_at_end",
}


def _maintenance_options(values: dict) -> dict:
    """`scheduled_reminders` (a list of minutes) wins over `scheduled_remind_prior` (60 minutes or none)."""
    options = {MAINTENANCE_OPTIONS[k]: v for k, v in values.items() if k in MAINTENANCE_OPTIONS}
    if "scheduled_reminders" in values:
        options["reminders"] = values["scheduled_reminders"]
    elif "scheduled_remind_prior" in values:
        options["reminders"] = [60] if values["scheduled_remind_prior"] else []
    return options


def _key_maker(request):
    """The person who made the API key in use: the author of what the key schedules, and the reviewer when
    an owner's key approves."""
    key = getattr(request, "auth", None)
    return getattr(key, "created_by", None)


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
        return (
            selectors.with_timeline(qs)
            .select_related("page", "commander", "created_by", "reviewed_by")
            .prefetch_related("maintenance_notices")
        )

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
        wanted = values.get("status") or MaintenanceStatus.SCHEDULED
        if wanted not in (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS):
            raise serializers.ValidationError(
                {"status": ["A new maintenance is scheduled or in_progress (it starts at once)."]}
            )
        notify = values.get("deliver_notifications", True)
        starting = wanted == MaintenanceStatus.IN_PROGRESS
        with transaction.atomic():  # a start the change review refuses leaves nothing behind
            incident = services.schedule_maintenance(
                actor=self.actor,
                page=self.page,
                name=values["name"],
                scheduled_for=start,
                scheduled_until=end,
                body="" if starting else values.get("body", ""),
                components=list(values["affected"]),
                deliver_notifications=notify and not starting,  # one notice, "started", not two
                author=_key_maker(self.request),
                **_maintenance_options(values),
            )
            if starting:
                services.start_maintenance(
                    actor=self.actor,
                    incident=incident,
                    body=values.get("body", ""),
                    deliver_notifications=notify,
                )
        return incident


def _reload(page, code: str) -> Incident:
    incident = (
        selectors.with_timeline(Incident.objects.for_page(page).filter(code=code))
        .select_related("page", "commander", "created_by", "reviewed_by")
        .prefetch_related("maintenance_notices")
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
        if incident.is_maintenance:
            with transaction.atomic():
                _patch_maintenance(self.actor, incident, values)
            return Response(incident_json(_reload(self.page, incident_id)))
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


def _patch_maintenance(actor, incident: Incident, values: dict) -> None:
    """A maintenance PATCHed as Statuspage clients do: its fields, its window (a new start reschedules, a
    new end alone extends), and its status: `in_progress` starts it (components under maintenance),
    `completed` completes it (components restored), `verifying` or a body posts an update. Runs in the
    caller's transaction; each step is the console's command."""
    if "impact_override" in values and values["impact_override"] not in (None, "", Impact.MAINTENANCE):
        raise serializers.ValidationError({"impact_override": ["A maintenance's impact is maintenance."]})
    options = _maintenance_options(values)
    components = list(values["affected"]) if values.get("affected") else None
    if "name" in values or options or components is not None:
        services.edit_maintenance(
            actor=actor, incident=incident, name=values.get("name"), components=components, **options
        )
    incident.refresh_from_db()
    target = values.get("status")
    body_text = values.get("body", "")
    notify = values.get("deliver_notifications", True)
    start, end = values.get("scheduled_for"), values.get("scheduled_until")
    moved = start is not None and start != incident.scheduled_for
    if moved:
        if incident.status != MaintenanceStatus.SCHEDULED:
            raise serializers.ValidationError(
                {"scheduled_for": ["A maintenance that has started keeps its start; change scheduled_until."]}
            )
        services.reschedule_maintenance(
            actor=actor,
            incident=incident,
            scheduled_for=start,
            scheduled_until=end or incident.scheduled_until + (start - incident.scheduled_for),
            body="" if target else body_text,
            deliver_notifications=notify,
        )
        body_text = "" if not target else body_text
    elif end is not None and end != incident.scheduled_until:
        services.extend_maintenance(
            actor=actor,
            incident=incident,
            scheduled_until=end,
            body="" if target else body_text,
            deliver_notifications=notify,
        )
        body_text = "" if not target else body_text
    incident.refresh_from_db()
    was = incident.status
    if target is not None and target not in MaintenanceStatus.values:
        raise serializers.ValidationError(
            {"status": [f"Choose one of: {', '.join(MaintenanceStatus.values)}."]}
        )
    if target == MaintenanceStatus.IN_PROGRESS and was == MaintenanceStatus.SCHEDULED:
        services.start_maintenance(
            actor=actor, incident=incident, body=body_text, deliver_notifications=notify
        )
    elif target == MaintenanceStatus.COMPLETED and was in ACTIVE_MAINTENANCE_STATUSES:
        services.complete_maintenance(
            actor=actor, incident=incident, body=body_text, deliver_notifications=notify
        )
    elif target == MaintenanceStatus.COMPLETED and was == MaintenanceStatus.SCHEDULED:
        raise serializers.ValidationError(
            {
                "status": [
                    "This maintenance has not started: start it, or cancel it (ext/incidents/{id}/cancel)."
                ]
            }
        )
    elif target == MaintenanceStatus.VERIFYING and was == MaintenanceStatus.SCHEDULED:
        raise serializers.ValidationError(
            {"status": ["Start the maintenance (in_progress) before verifying."]}
        )
    elif target == MaintenanceStatus.SCHEDULED and was != MaintenanceStatus.SCHEDULED:
        raise serializers.ValidationError(
            {"status": ["A maintenance that has started cannot be scheduled again."]}
        )
    elif (target is not None and target != was) or body_text:
        services.post_update(
            actor=actor,
            incident=incident,
            status=target or was,
            body=body_text,
            deliver_notifications=notify,
        )


class UpdateInput(serializers.Serializer):
    body = serializers.CharField(max_length=25_000, required=False)
    display_at = Moment(required=False)
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


# --- Change review (ours, under ext/) ---------------------------------------------------------------------


class ReviewInput(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


def _reviewer(request, actor: Actor) -> Actor:
    """The person behind an owner's key reviews (and must not be the change's author); the audit row names
    the key too."""
    maker = _key_maker(request)
    if maker is None:
        return actor
    return Actor(user=maker, label=f"{maker.get_username()} via {actor.label}")


class _MaintenanceView(PageAPIView):
    def get_maintenance(self, incident_id: str) -> Incident:
        incident = _reload(self.page, incident_id)
        if not incident.is_maintenance:
            raise serializers.ValidationError(
                {"incident_id": ["This is an incident: only maintenances are reviewed and cancelled."]}
            )
        return incident

    def comment(self, request) -> str:
        data = ReviewInput(data=body(request, "review"))
        data.is_valid(raise_exception=True)
        return data.validated_data["comment"]


class MaintenanceImpact(_MaintenanceView):
    """GET ext/incidents/{id}/impact: the potential impact of a maintenance (or the reach of an incident):
    its components and their blast radius."""

    def get(self, request, page_id, incident_id):
        incident = _reload(self.page, incident_id)
        impact = selectors.potential_impact(self.page, incident.components.all())
        return Response({"id": incident.code, "potential_impact": impact_json(impact)})


class MaintenanceApprove(_MaintenanceView):
    """POST ext/incidents/{id}/approve: an owner's key made by someone other than the author."""

    write_role = Role.OWNER

    def post(self, request, page_id, incident_id):
        incident = self.get_maintenance(incident_id)
        comment = self.comment(request)
        services.approve_change(
            actor=_reviewer(request, self.actor), target=incident, comment=comment, key=request.auth
        )
        return Response(incident_json(_reload(self.page, incident_id)))


class MaintenanceReject(_MaintenanceView):
    """POST ext/incidents/{id}/reject, with the reason in `comment`."""

    write_role = Role.OWNER

    def post(self, request, page_id, incident_id):
        incident = self.get_maintenance(incident_id)
        comment = self.comment(request)
        services.reject_change(
            actor=_reviewer(request, self.actor), target=incident, comment=comment, key=request.auth
        )
        return Response(incident_json(_reload(self.page, incident_id)))


class MaintenanceCancel(_MaintenanceView):
    """POST ext/incidents/{id}/cancel: call off a maintenance that has not started (`comment`: the update)."""

    def post(self, request, page_id, incident_id):
        incident = self.get_maintenance(incident_id)
        comment = self.comment(request)
        services.cancel_maintenance(actor=self.actor, incident=incident, body=comment)
        return Response(incident_json(_reload(self.page, incident_id)))


def change_json(change: ChangeRecord, *, impact: list | None = None) -> dict:
    tz = change.page.tz
    out = {
        "id": change.code,
        "title": change.title,
        "description": change.description,
        "state": change.state,
        "component_ids": [c.code for c in change.components.all()],
        "author": change.created_by.get_username() if change.created_by else change.created_by_label,
        "reviewed_by": change.reviewed_by.get_username() if change.reviewed_by else None,
        "reviewed_at": timestamp(change.reviewed_at, tz),
        "review_comment": change.review_comment or None,
        "done_at": timestamp(change.done_at, tz),
        "created_at": timestamp(change.created_at, tz),
        "updated_at": timestamp(change.updated_at, tz),
    }
    if impact is not None:
        out["potential_impact"] = impact_json(impact)
    return out


class ChangeInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=25_000, required=False, allow_blank=True)
    component_ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, allow_empty=True, max_length=1100
    )
    state = serializers.ChoiceField(choices=[ReviewState.PENDING, ReviewState.DONE], required=False)
    submit = serializers.BooleanField(required=False, default=True)

    def validate_component_ids(self, codes):
        found = {c.code: c for c in Component.objects.for_page(self.context["page"]).filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(f"No such component on this page: {', '.join(missing)}.")
        return [found[code] for code in dict.fromkeys(codes)]


def _changes(page):
    return (
        ChangeRecord.objects.for_page(page)
        .select_related("page", "created_by", "reviewed_by")
        .prefetch_related("components")
    )


def _change(page, code: str) -> ChangeRecord:
    change = _changes(page).filter(code=code).first()
    if change is None:
        raise NotFound("No such change.")
    return change


class ChangeList(PageAPIView):
    def get(self, request, page_id):
        qs = _changes(self.page)
        state = request.query_params.get("state")
        if state:
            qs = qs.filter(state=state)
        return Response([change_json(c) for c in paginate(request, qs.order_by("-created_at", "-id"))])

    def post(self, request, page_id):
        data = ChangeInput(data=body(request, "change"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        change = services.create_change_record(
            actor=self.actor,
            page=self.page,
            title=values["title"],
            description=values.get("description", ""),
            components=values.get("component_ids", []),
            submit=values.get("submit", True),
            author=_key_maker(request),
        )
        answer = _change_answer(self.page, change.code)
        answer.status_code = status.HTTP_201_CREATED
        return answer


def _change_answer(page, code: str) -> Response:
    change = _change(page, code)
    impact = selectors.potential_impact(page, change.components.all())
    return Response(change_json(change, impact=impact))


class ChangeDetail(PageAPIView):
    def get(self, request, page_id, change_id):
        return _change_answer(self.page, change_id)

    def patch(self, request, page_id, change_id):
        change = _change(self.page, change_id)
        data = ChangeInput(data=body(request, "change"), partial=True, context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with transaction.atomic():
            if {"title", "description", "component_ids"} & set(values):
                services.update_change_record(
                    actor=self.actor,
                    change=change,
                    title=values.get("title"),
                    description=values.get("description"),
                    components=values.get("component_ids"),
                )
            if values.get("state") == ReviewState.PENDING:
                services.submit_change_record(actor=self.actor, change=change)
            elif values.get("state") == ReviewState.DONE:
                services.complete_change_record(actor=self.actor, change=change)
        return _change_answer(self.page, change_id)

    put = patch


class ChangeApprove(PageAPIView):
    """POST ext/changes/{id}/approve: an owner's key made by someone other than the author."""

    write_role = Role.OWNER
    decide = staticmethod(services.approve_change)

    def post(self, request, page_id, change_id):
        change = _change(self.page, change_id)
        data = ReviewInput(data=body(request, "review"))
        data.is_valid(raise_exception=True)
        self.decide(
            actor=_reviewer(request, self.actor),
            target=change,
            comment=data.validated_data["comment"],
            key=request.auth,
        )
        return _change_answer(self.page, change_id)


class ChangeReject(ChangeApprove):
    """POST ext/changes/{id}/reject, with the reason in `comment`."""

    decide = staticmethod(services.reject_change)


# --- Incident templates -----------------------------------------------------------------------------------
# Statuspage offers only GET|POST /incident_templates; we add GET|PATCH|PUT|DELETE /incident_templates/{id}.


def template_json(template) -> dict:
    """Statuspage's incident template object, `components` in full as component_json gives them."""
    from components.api import component_json  # here, not above: the head of this module is shared

    return {
        "id": template.code,
        "components": [component_json(c) for c in template.components.all()],
        "name": template.name,
        "title": template.title,
        "body": template.body,
        "group_id": None,  # template groups are not offered; a given group_id is ignored
        "update_status": template.status,
        "should_tweet": False,
        "should_send_notifications": template.deliver_notifications,
    }


class TemplateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=25_000)
    group_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=32)
    update_status = serializers.ChoiceField(choices=IncidentStatus.values, required=False)
    should_tweet = serializers.BooleanField(required=False)
    should_send_notifications = serializers.BooleanField(required=False)
    component_ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, allow_empty=True, max_length=1100
    )
    component_status = serializers.ChoiceField(choices=ComponentStatus.values, required=False)

    def validate_component_ids(self, codes):
        found = {c.code: c for c in Component.objects.for_page(self.context["page"]).filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(f"No such component on this page: {', '.join(missing)}.")
        return [found[code] for code in dict.fromkeys(codes)]


def _template_fields(values: dict) -> dict:
    """The API's names as the model's (save_template's fields); group_id and should_tweet are dropped."""
    names = {
        "name": "name",
        "title": "title",
        "body": "body",
        "update_status": "status",
        "should_send_notifications": "deliver_notifications",
        "component_status": "component_status",
    }
    return {names[k]: v for k, v in values.items() if k in names}


class TemplateList(PageAPIView):
    def get(self, request, page_id):
        qs = self.page.incident_templates.select_related("page").prefetch_related(
            "components__group", "components__page"
        )
        return Response([template_json(t) for t in paginate(request, qs.order_by("name", "id"))])

    def post(self, request, page_id):
        data = TemplateInput(data=body(request, "template"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        template = services.save_template(
            actor=self.actor,
            page=self.page,
            components=values.pop("component_ids", []),
            **_template_fields(values),
        )
        return Response(template_json(_template(self.page, template.code)), status=status.HTTP_201_CREATED)


def _template(page, code: str):
    template = (
        page.incident_templates.select_related("page")
        .prefetch_related("components__group", "components__page")
        .filter(code=code)
        .first()
    )
    if template is None:
        raise NotFound("No such incident template.")
    return template


class TemplateDetail(PageAPIView):
    def get(self, request, page_id, template_id):
        return Response(template_json(_template(self.page, template_id)))

    def patch(self, request, page_id, template_id):
        template = _template(self.page, template_id)
        data = TemplateInput(data=body(request, "template"), partial=True, context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        components = values.pop("component_ids", None)
        services.save_template(
            actor=self.actor,
            page=self.page,
            template=template,
            components=list(template.components.all()) if components is None else components,
            **_template_fields(values),
        )
        return Response(template_json(_template(self.page, template_id)))

    put = patch

    def delete(self, request, page_id, template_id):
        services.delete_template(actor=self.actor, template=_template(self.page, template_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
