from django.contrib import admin

from incidents.models import Incident, IncidentUpdate, Postmortem
from statuspage.admin import RepublishingAdmin


class IncidentUpdateInline(admin.StackedInline):
    model = IncidentUpdate
    extra = 0
    fields = ["status", "body", "display_at", "deliver_notifications", "author"]
    raw_id_fields = ["author"]


@admin.register(Incident)
class IncidentAdmin(RepublishingAdmin):
    list_display = ["name", "page", "kind", "status", "impact", "started_at", "resolved_at", "code"]
    list_filter = ["page", "kind", "status", "impact", "backfilled"]
    search_fields = ["name", "code"]
    date_hierarchy = "started_at"
    readonly_fields = ["code", "created_at"]
    filter_horizontal = ["components"]
    raw_id_fields = ["commander"]
    inlines = [IncidentUpdateInline]


@admin.register(Postmortem)
class PostmortemAdmin(RepublishingAdmin):
    list_display = ["incident", "published_at", "updated_at"]
    raw_id_fields = ["incident", "author"]

    def _page_of(self, obj):
        return obj.incident.page
