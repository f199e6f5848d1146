from django.contrib import admin

from subscribers.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "page", "type", "incident", "component", "fanned_out_at"]
    list_filter = ["type", "page"]
    raw_id_fields = ["incident", "incident_update", "component"]

    def has_change_permission(self, request, obj=None):
        return False
