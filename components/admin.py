from django.contrib import admin

from components.models import Component, ComponentDependency, ComponentGroup, ComponentStatusChange
from statuspage.admin import RepublishingAdmin


@admin.register(ComponentGroup)
class ComponentGroupAdmin(RepublishingAdmin):
    list_display = ["name", "page", "position", "is_public", "collapsed", "code"]
    list_filter = ["page", "is_public"]
    search_fields = ["name", "code"]
    readonly_fields = ["code"]


@admin.register(Component)
class ComponentAdmin(RepublishingAdmin):
    list_display = ["name", "page", "group", "status", "position", "is_public", "showcase", "code"]
    list_filter = ["page", "status", "is_public", "showcase"]
    search_fields = ["name", "code"]
    # Status changes go through the status history so uptime stays right: read-only here.
    readonly_fields = ["code", "status", "created_at", "updated_at"]


@admin.register(ComponentStatusChange)
class ComponentStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "component", "old_status", "new_status", "incident_update"]
    list_filter = ["new_status", "component__page"]
    raw_id_fields = ["component", "incident_update"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ComponentDependency)
class ComponentDependencyAdmin(admin.ModelAdmin):
    """Read-only: dependencies change through components.services, which refuses cycles and audits."""

    list_display = ["component", "depends_on", "kind", "page", "created_at"]
    list_filter = ["page", "kind"]
    raw_id_fields = ["page", "component", "depends_on"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
