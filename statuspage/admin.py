"""Django admin for superusers over every page. Edits here bypass the console's forms but not publishing:
each save republishes the page it touches, so the public side never lags an admin change."""

from django.contrib import admin

from statuspage.models import AuditEvent, Membership, Page
from statuspage.services import schedule_publish
from statuspage.tasks import publish_page_task


class RepublishingAdmin(admin.ModelAdmin):
    """Republishes the object's page after every save or delete made here."""

    def _page_of(self, obj):
        return obj if isinstance(obj, Page) else obj.page

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        schedule_publish(self._page_of(obj))

    def delete_model(self, request, obj):
        page_id = self._page_of(obj).pk
        super().delete_model(request, obj)
        # A deleted page's id still republishes the routing index, which then forgets it.
        publish_page_task.delay_on_commit(page_id)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        schedule_publish(self._page_of(form.instance))

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Page)
class PageAdmin(RepublishingAdmin):
    list_display = ["name", "slug", "custom_domain", "time_zone", "code", "created_at"]
    search_fields = ["name", "slug", "custom_domain", "code"]
    readonly_fields = ["code", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, even for superusers."""

    list_display = ["created_at", "page", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_id", "page__slug"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
