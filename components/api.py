"""Components and component groups in the management API, Statuspage's paths and shapes:
`/pages/{page_id}/components[/{id}]` and `/pages/{page_id}/component-groups[/{id}]`.

Beyond Statuspage (which has no dependencies): a component's `depends_on`, read and written with it, and
`/pages/{page_id}/ext/components/{id}/blast_radius` and `.../proposals?status=...`."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components import dependencies, services
from components.models import Component, ComponentDependency, ComponentGroup, ComponentStatus, DependencyKind
from statuspage.api.base import PageAPIView, body, paginate
from statuspage.api.schema import READ_ERRORS, ErrorOut
from statuspage.serializers import component_v2, group_v2


def component_json(component: Component, depends_on: list[dict] | None = None) -> dict:
    """A component as the management API shows it. `depends_on` as read by depends_on_of (one query for
    a whole list); read here when not given."""
    out = component_v2(component, component.page)
    out["automation_email"] = None  # Statuspage's email automation is not offered; the API is the way
    out["is_public"] = component.is_public
    if depends_on is None:
        depends_on = depends_on_of([component]).get(component.pk, [])
    out["depends_on"] = depends_on
    return out


def depends_on_of(components: list[Component]) -> dict[int, list[dict]]:
    """Each component's upstreams as [{component_id, kind}], in display order: one query."""
    out: dict[int, list[dict]] = {c.pk: [] for c in components}
    links = (
        ComponentDependency.objects.filter(component__in=[c.pk for c in components])
        .order_by("depends_on__position", "depends_on_id")
        .values_list("component_id", "depends_on__code", "kind")
    )
    for component_id, code, kind in links:
        out[component_id].append({"component_id": code, "kind": kind})
    return out


class DependsOnField(serializers.ListField):
    """`depends_on`: a list of component ids (hard dependencies), or of {component_id, kind}, on the same
    page; answers [(Component, kind)]."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.JSONField(), max_length=1000, **kwargs)

    def to_internal_value(self, data):
        if data == "" or data is None:  # a form-encoded empty list
            data = []
        items = super().to_internal_value(data)
        wanted: dict[str, str] = {}
        for item in items:
            if isinstance(item, str):
                code, kind = item, DependencyKind.HARD
            elif isinstance(item, dict) and isinstance(item.get("component_id"), str):
                code, kind = item["component_id"], item.get("kind", DependencyKind.HARD)
                if kind not in DependencyKind.values:
                    raise serializers.ValidationError(
                        f"A kind is one of: {', '.join(DependencyKind.values)}."
                    )
            else:
                raise serializers.ValidationError(
                    'Give component ids, or objects like {"component_id": "...", "kind": "hard"}.'
                )
            wanted[code] = kind
        found = {
            c.code: c for c in Component.objects.for_page(self.context["page"]).filter(code__in=list(wanted))
        }
        missing = [code for code in wanted if code not in found]
        if missing:
            raise serializers.ValidationError(f"No such component on this page: {', '.join(missing)}.")
        return [(found[code], kind) for code, kind in wanted.items()]


def group_json(group: ComponentGroup) -> dict:
    children = list(group.components.order_by("position", "id"))
    out = group_v2(group, children, group.page)
    return {
        "id": out["id"],
        "page_id": out["page_id"],
        "name": out["name"],
        "description": out["description"],
        "components": out["components"],
        "position": out["position"],
        "created_at": out["created_at"],
        "updated_at": out["updated_at"],
        "status": out["status"],
        "is_public": group.is_public,
        "collapsed": group.collapsed,
    }


class ComponentInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
    status = serializers.ChoiceField(choices=ComponentStatus.values, required=False)
    group_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=32)
    showcase = serializers.BooleanField(required=False)
    only_show_if_degraded = serializers.BooleanField(required=False)
    start_date = serializers.DateField(required=False, allow_null=True)
    position = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
    is_public = serializers.BooleanField(required=False)
    depends_on = DependsOnField(required=False)

    def validate_group_id(self, value):
        if not value:
            return None
        group = ComponentGroup.objects.for_page(self.context["page"]).filter(code=value).first()
        if group is None:
            raise serializers.ValidationError("No component group with this id on this page.")
        return group


def _component_fields(data: dict) -> dict:
    fields = {k: v for k, v in data.items() if k not in ("status", "group_id", "depends_on")}
    if "description" in fields and fields["description"] is None:
        fields["description"] = ""
    if "group_id" in data:
        fields["group"] = data["group_id"]
    return fields


class ComponentList(PageAPIView):
    def get(self, request, page_id):
        qs = Component.objects.for_page(self.page).select_related("group", "page").order_by("position", "id")
        components = paginate(request, qs)
        links = depends_on_of(components)
        return Response([component_json(c, links[c.pk]) for c in components])

    def post(self, request, page_id):
        data = ComponentInput(data=body(request, "component"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        status_value = values.pop("status", ComponentStatus.OPERATIONAL)
        depends_on = values.pop("depends_on", None)
        fields = _component_fields(values)
        name = fields.pop("name")
        with transaction.atomic():
            component = services.create_component(
                actor=self.actor, page=self.page, name=name, status=status_value, **fields
            )
            if depends_on:
                services.set_dependencies(actor=self.actor, component=component, depends_on=depends_on)
        return Response(component_json(component), status=status.HTTP_201_CREATED)


class ComponentDetail(PageAPIView):
    def get_object(self, component_id: str) -> Component:
        component = (
            Component.objects.for_page(self.page)
            .select_related("group", "page")
            .filter(code=component_id)
            .first()
        )
        if component is None:
            raise NotFound("No such component.")
        return component

    def get(self, request, page_id, component_id):
        return Response(component_json(self.get_object(component_id)))

    def patch(self, request, page_id, component_id):
        component = self.get_object(component_id)
        data = ComponentInput(data=body(request, "component"), partial=True, context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        new_status = values.pop("status", None)
        depends_on = values.pop("depends_on", None)
        fields = _component_fields(values)
        with transaction.atomic():
            if depends_on is not None:  # first: a cycle is named as the graph stands, before any rename
                services.set_dependencies(actor=self.actor, component=component, depends_on=depends_on)
            if fields:
                component = services.update_component(actor=self.actor, component=component, **fields)
            if new_status is not None:
                services.set_component_status(actor=self.actor, component=component, status=new_status)
        return Response(component_json(self.get_object(component_id)))

    put = patch

    def delete(self, request, page_id, component_id):
        services.delete_component(actor=self.actor, component=self.get_object(component_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
    components = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=1100
    )
    position = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
    is_public = serializers.BooleanField(required=False)
    collapsed = serializers.BooleanField(required=False)

    def validate_components(self, codes):
        found = {c.code: c for c in Component.objects.for_page(self.context["page"]).filter(code__in=codes)}
        missing = [code for code in codes if code not in found]
        if missing:
            raise serializers.ValidationError(f"No such component on this page: {', '.join(missing)}.")
        return [found[code] for code in dict.fromkeys(codes)]


class GroupList(PageAPIView):
    def get(self, request, page_id):
        qs = ComponentGroup.objects.for_page(self.page).select_related("page").order_by("position", "id")
        return Response([group_json(g) for g in paginate(request, qs)])

    def post(self, request, page_id):
        data = GroupInput(data=body(request, "component_group"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        components = values.pop("components", None)
        if not components:
            raise serializers.ValidationError({"components": ["A group needs at least one component."]})
        if values.get("description") is None:
            values.pop("description", None)
        with transaction.atomic():
            group = services.create_group(actor=self.actor, page=self.page, **values)
            group = services.update_group(actor=self.actor, group=group, components=components)
        return Response(group_json(group), status=status.HTTP_201_CREATED)


class GroupDetail(PageAPIView):
    def get_object(self, group_id: str) -> ComponentGroup:
        group = (
            ComponentGroup.objects.for_page(self.page).select_related("page").filter(code=group_id).first()
        )
        if group is None:
            raise NotFound("No such component group.")
        return group

    def get(self, request, page_id, group_id):
        return Response(group_json(self.get_object(group_id)))

    def patch(self, request, page_id, group_id):
        group = self.get_object(group_id)
        data = GroupInput(data=body(request, "component_group"), partial=True, context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        components = values.pop("components", None)
        if components is not None and not components:
            raise serializers.ValidationError({"components": ["A group needs at least one component."]})
        if "description" in values and values["description"] is None:
            values["description"] = ""
        group = services.update_group(actor=self.actor, group=group, components=components, **values)
        return Response(group_json(group))

    put = patch

    def delete(self, request, page_id, group_id):
        group = self.get_object(group_id)
        answer = group_json(group)
        services.delete_group(actor=self.actor, group=group)
        return Response(answer, status=status.HTTP_200_OK)  # Statuspage answers 200 with the group


# --- Dependencies (extensions under /ext/) -----------------------------------------------------------------


class _RefOut(serializers.Serializer):
    component_id = serializers.CharField()
    name = serializers.CharField()


class AffectedOut(_RefOut):
    status = serializers.ChoiceField(choices=ComponentStatus.values)
    is_public = serializers.BooleanField()
    depth = serializers.IntegerField(help_text="Hops from the component.")
    kind = serializers.ChoiceField(
        choices=DependencyKind.values, help_text="hard when every dependency on the path is hard."
    )
    via = _RefOut(many=True, help_text="The path from the component to this one's upstream.")


class BlastRadiusOut(serializers.Serializer):
    component_id = serializers.CharField()
    affected = AffectedOut(many=True)


class ProposalOut(_RefOut):
    is_public = serializers.BooleanField()
    current_status = serializers.ChoiceField(choices=ComponentStatus.values)
    suggested_status = serializers.ChoiceField(choices=ComponentStatus.values)
    kind = serializers.ChoiceField(choices=DependencyKind.values)
    via = _RefOut(many=True)


class ProposalsOut(serializers.Serializer):
    component_id = serializers.CharField()
    current_status = serializers.ChoiceField(choices=ComponentStatus.values)
    status = serializers.ChoiceField(choices=ComponentStatus.values)
    proposals = ProposalOut(many=True)


def _ref(component: Component) -> dict:
    return {"component_id": component.code, "name": component.name}


class _ComponentExtView(PageAPIView):
    def get_component(self, component_id: str) -> Component:
        component = Component.objects.for_page(self.page).filter(code=component_id).first()
        if component is None:
            raise NotFound("No such component.")
        return component


class BlastRadius(_ComponentExtView):
    """GET: every transitive dependent of the component, nearest first, internal ones included (the key is
    the team's)."""

    @extend_schema(
        responses={200: BlastRadiusOut, **READ_ERRORS},
        summary="Ours: every component that depends on this one, directly or not",
        tags=["components"],
    )
    def get(self, request, page_id, component_id):
        component = self.get_component(component_id)
        radius = dependencies.blast_radius(self.page, [component])
        return Response(
            {
                "component_id": component.code,
                "affected": [
                    {
                        **_ref(a.component),
                        "status": a.component.status,
                        "is_public": a.component.is_public,
                        "depth": a.depth,
                        "kind": a.kind,
                        "via": [_ref(c) for c in a.via],
                    }
                    for a in radius
                ],
            }
        )


class Proposals(_ComponentExtView):
    """GET ?status=...: the statuses the component going to `status` would propose for its dependents
    (nothing is changed; PATCH each component to apply them, or turn on the page's propagation)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=ComponentStatus.values,
                required=True,
                description="The new status.",
            )
        ],
        responses={
            200: ProposalsOut,
            400: OpenApiResponse(ErrorOut, "No or an unknown status."),
            **READ_ERRORS,
        },
        summary="Ours: what a status change of this component proposes for its dependents",
        tags=["components"],
    )
    def get(self, request, page_id, component_id):
        component = self.get_component(component_id)
        wanted = request.query_params.get("status", "")
        if wanted not in ComponentStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Choose one of: {', '.join(ComponentStatus.values)}."]}
            )
        proposals = dependencies.propose(component, wanted)
        component.refresh_from_db(fields=["status"])
        return Response(
            {
                "component_id": component.code,
                "current_status": component.status,
                "status": wanted,
                "proposals": [
                    {
                        **_ref(p.component),
                        "is_public": p.component.is_public,
                        "current_status": p.current,
                        "suggested_status": p.suggested,
                        "kind": p.kind,
                        "via": [_ref(c) for c in p.via],
                    }
                    for p in proposals
                ],
            }
        )


# --- Uptime (Statuspage: GET /components/{id}/uptime and /component-groups/{id}/uptime) -------------------

MAX_UPTIME_DAYS = 184  # Statuspage allows six months between start and end


class UptimeQuery(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)


class _RelatedIncident(serializers.Serializer):
    id = serializers.CharField()


class _RelatedEvents(serializers.Serializer):
    incidents = _RelatedIncident(many=True)


class UptimeOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    range_start = serializers.DateField()
    range_end = serializers.DateField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    major_outage = serializers.IntegerField(help_text="Seconds in major outage.")
    partial_outage = serializers.IntegerField(help_text="Seconds in partial outage.")
    warnings = serializers.ListField(child=serializers.CharField())
    related_events = _RelatedEvents()


def uptime_json(page, owner, components: list[Component], params) -> dict:
    """Uptime over [start, end] in the page's zone, with Statuspage's rule (major outage, plus 30% of
    partial outage, is downtime) and the incidents of those days that touched these components."""
    from datetime import timedelta

    from django.utils import timezone as tz_util

    from components import selectors
    from incidents.selectors import incidents_overlapping

    query = UptimeQuery(data=params)
    query.is_valid(raise_exception=True)
    tz = page.tz
    now = tz_util.now()
    today = now.astimezone(tz).date()
    warnings = []
    end = query.validated_data.get("end") or today
    start = query.validated_data.get("start") or end - timedelta(days=89)
    errors = {}
    if end > today:
        errors["end"] = ["The end cannot be after today."]
    if start > end:
        errors["start"] = ["The start must be on or before the end."]
    elif (end - start).days + 1 > MAX_UPTIME_DAYS:
        errors["start"] = [f"At most {MAX_UPTIME_DAYS} days between start and end."]
    if errors:
        raise serializers.ValidationError(errors)
    births = [c.start_date or c.created_at.astimezone(tz).date() for c in components]
    born = min(births) if births else start
    if start < born:
        warnings.append(f"The range starts before uptime was counted; counted from {born.isoformat()}.")
    if not all(c.showcase for c in components):
        warnings.append("Uptime is not shown on the public page for this component (showcase is off).")
    # The last instant of `end` (its midnight would already be the next day in the page's zone).
    until = min(now, selectors.day_bounds(end, tz)[1] - timedelta(microseconds=1))
    days = (end - start).days + 1
    uptimes = selectors.uptime_for_components(components, tz=tz, now=until, days=days)
    seconds = {"major_outage": 0.0, "partial_outage": 0.0}
    percents = []
    for c in components:
        uptime = uptimes[c.pk]
        for day in uptime.days:
            for key in seconds:
                seconds[key] += day.seconds.get(key, 0.0)
        if uptime.percent is not None:
            percents.append(uptime.percent)
    since = selectors.day_bounds(start, tz)[0]
    ids = {c.pk for c in components}
    related = [
        {"id": i.code}
        for i in incidents_overlapping(page, since=since, now=until)
        if any(c.pk in ids for c in i.components.all())
    ]
    return {
        "id": owner.code,
        "name": owner.name,
        "range_start": start.isoformat(),
        "range_end": end.isoformat(),
        "uptime_percentage": round(sum(percents) / len(percents), 4) if percents else None,
        "major_outage": round(seconds["major_outage"]),
        "partial_outage": round(seconds["partial_outage"]),
        "warnings": warnings,
        "related_events": {"incidents": related},
    }


UPTIME_SCHEMA = extend_schema(
    parameters=[
        OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 90 days before end)."),
        OpenApiParameter(
            "end", OpenApiTypes.DATE, description="Last day (default: today in the page's zone)."
        ),
    ],
    responses={200: UptimeOut, 400: OpenApiResponse(ErrorOut, "Invalid range."), **READ_ERRORS},
    summary="Uptime over a range of days",
    tags=["components"],
)


class ComponentUptime(PageAPIView):
    @UPTIME_SCHEMA
    def get(self, request, page_id, component_id):
        component = Component.objects.for_page(self.page).filter(code=component_id).first()
        if component is None:
            raise NotFound("No such component.")
        return Response(uptime_json(self.page, component, [component], request.query_params))


class GroupUptime(PageAPIView):
    @UPTIME_SCHEMA
    def get(self, request, page_id, group_id):
        group = ComponentGroup.objects.for_page(self.page).filter(code=group_id).first()
        if group is None:
            raise NotFound("No such component group.")
        children = list(group.components.order_by("position", "id"))
        return Response(uptime_json(self.page, group, children, request.query_params))
