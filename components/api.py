"""Components and component groups in the management API, Statuspage's paths and shapes:
`/pages/{page_id}/components[/{id}]` and `/pages/{page_id}/component-groups[/{id}]`."""

from __future__ import annotations

from django.db import transaction
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components import services
from components.models import Component, ComponentGroup, ComponentStatus
from statuspage.api.base import PageAPIView, body, paginate
from statuspage.serializers import component_v2, group_v2


def component_json(component: Component) -> dict:
    out = component_v2(component, component.page)
    out["automation_email"] = None  # Statuspage's email automation is not offered; the API is the way
    out["is_public"] = component.is_public
    return out


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

    def validate_group_id(self, value):
        if not value:
            return None
        group = ComponentGroup.objects.for_page(self.context["page"]).filter(code=value).first()
        if group is None:
            raise serializers.ValidationError("No component group with this id on this page.")
        return group


def _component_fields(data: dict) -> dict:
    fields = {k: v for k, v in data.items() if k not in ("status", "group_id")}
    if "description" in fields and fields["description"] is None:
        fields["description"] = ""
    if "group_id" in data:
        fields["group"] = data["group_id"]
    return fields


class ComponentList(PageAPIView):
    def get(self, request, page_id):
        qs = Component.objects.for_page(self.page).select_related("group", "page").order_by("position", "id")
        return Response([component_json(c) for c in paginate(request, qs)])

    def post(self, request, page_id):
        data = ComponentInput(data=body(request, "component"), context={"page": self.page})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        status_value = values.pop("status", ComponentStatus.OPERATIONAL)
        fields = _component_fields(values)
        name = fields.pop("name")
        component = services.create_component(
            actor=self.actor, page=self.page, name=name, status=status_value, **fields
        )
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
        fields = _component_fields(values)
        with transaction.atomic():
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
