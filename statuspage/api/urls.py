"""/api/v1/: Statuspage's management paths under /pages/{page_id}/, the `.json` suffix optional on each."""

from django.urls import re_path

from components import api as component_api
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
    re_path(r"^.*$", errors.not_found, name="not-found"),
]
