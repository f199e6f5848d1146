"""/api/v1/: Statuspage's management paths under /pages/{page_id}/, the `.json` suffix optional on each."""

from django.urls import re_path

from components import api as component_api
from incidents import api as incident_api
from statuspage.api import errors, pages

PAGE = r"pages/(?P<page_id>[a-z0-9]{1,32})"
ID = r"[a-z0-9]{1,32}"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}(?:\.json)?$", view.as_view(), name=name)


app_name = "api"

urlpatterns = [
    route(r"pages", pages.PageList, "pages"),
    route(PAGE, pages.PageDetail, "page"),
    route(rf"{PAGE}/components", component_api.ComponentList, "components"),
    route(rf"{PAGE}/components/(?P<component_id>{ID})", component_api.ComponentDetail, "component"),
    route(rf"{PAGE}/component-groups", component_api.GroupList, "component-groups"),
    route(rf"{PAGE}/component-groups/(?P<group_id>{ID})", component_api.GroupDetail, "component-group"),
    route(rf"{PAGE}/incidents", incident_api.IncidentList, "incidents"),
    *[
        re_path(
            rf"^{PAGE}/incidents/{scope}(?:\.json)?$",
            incident_api.IncidentList.as_view(scope=scope),
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
            incident_api.PostmortemView.as_view(step=step),
            name=f"postmortem-{step}",
        )
        for step in ("publish", "revert")
    ],
    re_path(r"^.*$", errors.not_found, name="not-found"),
]
