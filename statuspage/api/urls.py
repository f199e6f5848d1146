"""/api/v1/: Statuspage's management paths under /pages/{page_id}/, the `.json` suffix optional on each."""

from django.urls import re_path

from components import api as component_api
from incidents import api as incident_api
from incidents import api_schema as incident_schema
from statuspage.api import errors, extras, pages, schema_additions
from subscribers import api as subscriber_api

PAGE = r"pages/(?P<page_id>[a-z0-9]{1,32})"
ID = r"[a-z0-9]{1,32}"


READ_ONLY = ["get", "head", "options"]


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}(?:\.json)?$", view.as_view(), name=name)


app_name = "api"

urlpatterns = [
    route(r"pages", pages.PageList, "pages"),
    route(PAGE, pages.PageDetail, "page"),
    route(rf"{PAGE}/components", component_api.ComponentList, "components"),
    route(rf"{PAGE}/components/(?P<component_id>{ID})", component_api.ComponentDetail, "component"),
    route(
        rf"{PAGE}/components/(?P<component_id>{ID})/uptime", component_api.ComponentUptime, "component-uptime"
    ),
    route(rf"{PAGE}/component-groups", component_api.GroupList, "component-groups"),
    route(rf"{PAGE}/component-groups/(?P<group_id>{ID})/uptime", component_api.GroupUptime, "group-uptime"),
    route(rf"{PAGE}/component-groups/(?P<group_id>{ID})", component_api.GroupDetail, "component-group"),
    route(
        rf"{PAGE}/ext/components/(?P<component_id>{ID})/blast_radius",
        component_api.BlastRadius,
        "ext-component-blast-radius",
    ),
    route(
        rf"{PAGE}/ext/components/(?P<component_id>{ID})/proposals",
        component_api.Proposals,
        "ext-component-proposals",
    ),
    route(rf"{PAGE}/incidents", incident_api.IncidentList, "incidents"),
    *[
        re_path(
            rf"^{PAGE}/incidents/{scope}(?:\.json)?$",
            incident_api.IncidentList.as_view(scope=scope, http_method_names=READ_ONLY),
            name=f"incidents-{scope}",
        )
        for scope in ("unresolved", "upcoming", "scheduled", "active_maintenance")
    ],
    route(rf"{PAGE}/incidents/(?P<incident_id>{ID})", incident_api.IncidentDetail, "incident"),
    route(
        rf"{PAGE}/incidents/(?P<incident_id>{ID})/incident_updates/(?P<update_id>{ID})",
        incident_api.IncidentUpdateDetail,
        "incident-update",
    ),
    route(rf"{PAGE}/incidents/(?P<incident_id>{ID})/postmortem", incident_api.PostmortemView, "postmortem"),
    *[
        re_path(
            rf"^{PAGE}/incidents/(?P<incident_id>{ID})/postmortem/{step}(?:\.json)?$",
            incident_api.PostmortemView.as_view(step=step, http_method_names=["put", "patch", "options"]),
            name=f"postmortem-{step}",
        )
        for step in ("publish", "revert")
    ],
    # Change review of maintenances, and change records (ours).
    *[
        route(rf"{PAGE}/ext/incidents/(?P<incident_id>{ID})/{step}", view, f"ext-incident-{step}")
        for step, view in (
            ("impact", incident_api.MaintenanceImpact),
            ("approve", incident_api.MaintenanceApprove),
            ("reject", incident_api.MaintenanceReject),
            ("cancel", incident_api.MaintenanceCancel),
        )
    ],
    route(rf"{PAGE}/ext/changes", incident_api.ChangeList, "ext-changes"),
    route(rf"{PAGE}/ext/changes/(?P<change_id>{ID})", incident_api.ChangeDetail, "ext-change"),
    *[
        route(rf"{PAGE}/ext/changes/(?P<change_id>{ID})/{step}", view, f"ext-change-{step}")
        for step, view in (("approve", incident_api.ChangeApprove), ("reject", incident_api.ChangeReject))
    ],
    # Subscribers: the bulk and counting paths before `subscribers/{id}`, which would match most of them.
    route(rf"{PAGE}/subscribers", subscriber_api.SubscriberList, "subscribers"),
    *[
        re_path(
            rf"^{PAGE}/subscribers/{action}(?:\.json)?$",
            subscriber_api.SubscriberBulk.as_view(action=action),
            name=f"subscribers-{action}",
        )
        for action in ("unsubscribe", "reactivate", "resend_confirmation")
    ],
    route(rf"{PAGE}/subscribers/count", subscriber_api.SubscriberCount, "subscribers-count"),
    route(
        rf"{PAGE}/subscribers/histogram_by_state", subscriber_api.SubscriberHistogram, "subscribers-histogram"
    ),
    route(rf"{PAGE}/subscribers/unsubscribed", subscriber_api.UnsubscribedList, "subscribers-unsubscribed"),
    route(rf"{PAGE}/subscribers/(?P<subscriber_id>{ID})", subscriber_api.SubscriberDetail, "subscriber"),
    route(
        rf"{PAGE}/subscribers/(?P<subscriber_id>{ID})/resend_confirmation",
        subscriber_api.ResendConfirmation,
        "subscriber-resend-confirmation",
    ),
    route(rf"{PAGE}/incident_templates", incident_api.TemplateList, "incident-templates"),
    route(
        rf"{PAGE}/incident_templates/(?P<template_id>{ID})", incident_api.TemplateDetail, "incident-template"
    ),
    # Ours, under ext/ so that no Statuspage path can ever collide with them.
    route(rf"{PAGE}/ext/cadence", extras.PageCadence, "ext-cadence"),
    route(
        rf"{PAGE}/ext/incidents/(?P<incident_id>{ID})/cadence", extras.IncidentCadence, "ext-incident-cadence"
    ),
    route(
        rf"{PAGE}/ext/incidents/(?P<incident_id>{ID})/deliveries",
        extras.IncidentDeliveries,
        "ext-incident-deliveries",
    ),
    route(rf"{PAGE}/ext/events", extras.EventList, "ext-events"),
    route(
        rf"{PAGE}/ext/events/(?P<event_id>{ID})/deliveries", extras.EventDeliveries, "ext-event-deliveries"
    ),
    route(rf"{PAGE}/ext/audit-events", extras.AuditEventList, "ext-audit-events"),
    re_path(r"^[\s\S]*$", errors.not_found, name="not-found"),  # any path, newlines and all
]

# The schema of the subscriber, template and ext/ views; the rest: schema.annotate() in statuspage/urls.py.
schema_additions.annotate()
incident_schema.annotate()  # the change-review endpoints (ext/incidents/{id}/..., ext/changes)
