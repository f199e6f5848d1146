"""The console, under /console/. Every page-scoped URL starts with the page's slug and its view declares
the least role it needs (statuspage.permissions); tests walk this file to check every view."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from components import views as component_views
from incidents import views as incident_views
from statuspage import console_views
from statuspage.auth import views as account_views
from subscribers import views as subscriber_views

app_name = "console"

auth = [
    # Password, then (for an account with a second factor) a code; both throttled (statuspage.auth).
    path("login/", account_views.login, name="login"),
    path("login/code/", account_views.login_code, name="login_code"),
    path("account/security/", account_views.security, name="security"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="console/auth/password_reset.html",
            email_template_name="email/password_reset.txt",
            subject_template_name="email/password_reset_subject.txt",
            success_url=reverse_lazy("console:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="console/auth/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="console/auth/password_reset_confirm.html",
            success_url=reverse_lazy("console:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="console/auth/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("signup/", console_views.signup, name="signup"),
]

page = [
    path("", console_views.dashboard, name="dashboard"),
    path("incidents/", incident_views.incident_list, name="incidents"),
    path("incidents/new/", incident_views.incident_new, name="incident_new"),
    path("incidents/backfill/", incident_views.incident_backfill, name="incident_backfill"),
    path("incidents/<str:code>/", incident_views.incident_detail, name="incident"),
    path("incidents/<str:code>/update/", incident_views.incident_update, name="incident_update"),
    path(
        "incidents/<str:code>/updates/<str:update_code>/edit/", incident_views.update_edit, name="update_edit"
    ),
    path("incidents/<str:code>/commander/", incident_views.incident_handover, name="incident_handover"),
    path("incidents/<str:code>/postmortem/", incident_views.postmortem, name="postmortem"),
    path("components/", component_views.component_list, name="components"),
    path("components/dependencies/", component_views.dependency_graph, name="dependencies"),
    path("components/<str:component_code>/", component_views.component_detail, name="component"),
    path(
        "components/<str:component_code>/status/", component_views.component_status, name="component_status"
    ),
    path(
        "components/<str:component_code>/proposals/", component_views.proposals_apply, name="proposals_apply"
    ),
    path(
        "components/<str:component_code>/dependencies/", component_views.dependency_add, name="dependency_add"
    ),
    path(
        "components/<str:component_code>/dependencies/remove/",
        component_views.dependency_remove,
        name="dependency_remove",
    ),
    path("templates/", incident_views.templates_list, name="templates"),
    path("templates/new/", incident_views.template_edit, name="template_new"),
    path("templates/<str:template_code>/", incident_views.template_edit, name="template_edit"),
    path("subscribers/", subscriber_views.subscriber_list, name="subscribers"),
    path("subscribers/add/", subscriber_views.subscriber_add, name="subscriber_add"),
    path("subscribers/import/", subscriber_views.subscriber_import, name="subscriber_import"),
    path("subscribers/export.csv", subscriber_views.subscriber_export, name="subscriber_export"),
    path("subscribers/<str:subscriber_code>/", subscriber_views.subscriber_action, name="subscriber_action"),
    path("notifications/", subscriber_views.notifications, name="notifications"),
    path(
        "notifications/<str:event_code>/retry/",
        subscriber_views.notification_retry,
        name="notification_retry",
    ),
    path("team/", console_views.team, name="team"),
    path("team/<int:member_id>/", console_views.member_role, name="member_role"),
    path("settings/", console_views.page_settings, name="settings"),
    path("settings/api-keys/", console_views.api_keys, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", console_views.api_key_revoke, name="api_key_revoke"),
    path("audit/", console_views.audit_log, name="audit"),
    path("audit/export.csv", console_views.audit_export, name="audit_export"),
    path("reports/cadence/", incident_views.cadence_report, name="cadence_report"),
    path("maintenance/", incident_views.maintenance_list, name="maintenance"),
    path("maintenance/new/", incident_views.maintenance_new, name="maintenance_new"),
    path("maintenance/series/<str:series_code>/", incident_views.series_detail, name="maintenance_series"),
    path(
        "maintenance/series/<str:series_code>/stop/",
        incident_views.series_stop,
        name="maintenance_series_stop",
    ),
    path(
        "maintenance/series/<str:series_code>/review/",
        incident_views.series_review,
        name="maintenance_series_review",
    ),
    path("maintenance/<str:maintenance_code>/", incident_views.maintenance_detail, name="maintenance_detail"),
    path(
        "maintenance/<str:maintenance_code>/review/",
        incident_views.maintenance_review,
        name="maintenance_review",
    ),
    path(
        "maintenance/<str:maintenance_code>/<str:action>/",
        incident_views.maintenance_action,
        name="maintenance_action",
    ),
    path("changes/", incident_views.change_list, name="changes"),
    path("changes/new/", incident_views.change_new, name="change_new"),
    path("changes/<str:change_code>/", incident_views.change_detail, name="change_detail"),
    path("changes/<str:change_code>/review/", incident_views.change_review, name="change_review"),
    path("changes/<str:change_code>/<str:action>/", incident_views.change_action, name="change_action"),
    path("preview/", console_views.preview, name="preview"),
]

urlpatterns = [
    path("", console_views.home, name="home"),
    *auth,
    *[path("<slug:page_slug>/" + str(p.pattern), p.callback, name=p.name) for p in page],
]
