"""Pages: `GET /pages` (the key's page), `GET|PATCH|PUT /pages/{page_id}` (owner keys to change)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from statuspage.api.base import KeyRateThrottle, PageAPIView, body
from statuspage.models import Page, Role
from statuspage.serializers import timestamp
from statuspage.services import update_page


def page_json(page: Page) -> dict:
    """Statuspage's page object with the fields this product has, and its own additions after them."""
    tz = page.tz
    return {
        "id": page.code,
        "created_at": timestamp(page.created_at, tz),
        "updated_at": timestamp(page.updated_at, tz),
        "name": page.name,
        "page_description": page.headline or None,
        "headline": page.headline or None,
        "branding": "basic",
        "subdomain": page.slug,
        "domain": page.custom_domain or None,
        "url": page.public_url.rstrip("/"),
        "support_url": page.support_url or None,
        "hidden_from_search": False,
        "allow_page_subscribers": True,
        "allow_incident_subscribers": False,
        "allow_email_subscribers": True,
        "allow_sms_subscribers": False,
        "allow_rss_atom_feeds": True,
        "allow_webhook_subscribers": True,
        "time_zone": page.time_zone,
        "css_link_color": page.brand_colour.lstrip("#"),
        # Ours.
        "homepage_url": page.homepage_url or None,
        "update_cadence_minutes": page.update_cadence_minutes,
        "monitoring_cadence_minutes": page.monitoring_cadence_minutes,
        "reminder_lead_minutes": page.reminder_lead_minutes,
        "incidents_raise_indicator": page.incidents_raise_indicator,
        "show_next_update": page.show_next_update,
        "escalation_webhook_url": page.escalation_webhook_url or None,
        "visibility": page.visibility,
        "allowed_ip_ranges": [r.strip() for r in page.allowed_ip_ranges.splitlines() if r.strip()],
        "allowed_viewer_emails": [e.strip() for e in page.allowed_viewer_emails.splitlines() if e.strip()],
    }


class PageInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    headline = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    page_description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    subdomain = serializers.SlugField(max_length=50, required=False)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True, allow_null=True)
    support_url = serializers.URLField(required=False, allow_blank=True, allow_null=True)
    homepage_url = serializers.URLField(required=False, allow_blank=True, allow_null=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    css_link_color = serializers.RegexField(r"^#?[0-9a-fA-F]{6}$", required=False)
    update_cadence_minutes = serializers.IntegerField(required=False)
    monitoring_cadence_minutes = serializers.IntegerField(required=False)
    reminder_lead_minutes = serializers.IntegerField(required=False)
    incidents_raise_indicator = serializers.BooleanField(required=False)
    show_next_update = serializers.BooleanField(required=False)
    escalation_webhook_url = serializers.URLField(required=False, allow_blank=True, allow_null=True)
    visibility = serializers.ChoiceField(choices=["public", "private"], required=False)
    allowed_ip_ranges = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=200
    )
    allowed_viewer_emails = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, max_length=1000
    )

    RENAMES = {"page_description": "headline", "subdomain": "slug", "domain": "custom_domain"}

    def fields_for_service(self) -> dict:
        out = {}
        for name, value in self.validated_data.items():
            if name == "css_link_color":
                out["brand_colour"] = "#" + value.lstrip("#").lower()
                continue
            if name in ("allowed_ip_ranges", "allowed_viewer_emails"):
                out[name] = "\n".join(item.strip() for item in value)
                continue
            out[self.RENAMES.get(name, name)] = "" if value is None else value
        return out


class PageList(APIView):
    """The pages this key may see: its own."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [KeyRateThrottle]

    def get(self, request):
        return Response([page_json(request.auth.page)])


class PageDetail(PageAPIView):
    write_role = Role.OWNER

    def get(self, request, page_id):
        return Response(page_json(self.page))

    def patch(self, request, page_id):
        data = PageInput(data=body(request, "page"), partial=True)
        data.is_valid(raise_exception=True)
        page = update_page(actor=self.actor, page=self.page, **data.fields_for_service())
        return Response(page_json(page))

    put = patch
