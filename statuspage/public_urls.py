"""The public side of one page, mounted at /pages/<slug>/ and at / (custom domain, subdomain, single page)."""

from django.urls import path

from incidents import views as incident_views
from statuspage import private, views
from subscribers import api_public as subscriber_api
from subscribers import views as subscriber_views

urlpatterns = [
    path("", views.public_index, name="index"),
    path("live", views.public_live, name="live"),
    path("history", views.public_history, name="history"),
    path("history.atom", views.public_feed, {"name": "history.atom"}, name="atom"),
    path("history.rss", views.public_feed, {"name": "history.rss"}, name="rss"),
    path("incidents/<str:code>", views.public_incident, name="incident"),
    path("badge.svg", views.public_badge, name="badge"),
    path("components/<str:code>/badge.svg", views.public_component_badge, name="component-badge"),
    path("maintenance.ics", incident_views.public_calendar, name="maintenance-ics"),
    path(
        "components/<str:code>/maintenance.ics",
        incident_views.public_calendar,
        name="component-maintenance-ics",
    ),
    path("embed/script.js", views.public_embed_script, name="embed-script"),
    path("subscribe", subscriber_views.subscribe_view, name="subscribe"),
    path("subscriptions/confirm/<str:token>", subscriber_views.confirm_view, name="subscription-confirm"),
    path("subscriptions/manage/<str:token>", subscriber_views.manage_view, name="subscription-manage"),
    path("subscriptions/unsubscribe/<str:token>", subscriber_views.unsubscribe_view, name="unsubscribe"),
    # Statuspage's public API v2: self-serve subscription (reads the database), then the documents, served
    # from the same snapshot (views.API_V2_DOCUMENTS and the lazily rendered incident and history pages).
    path("api/v2/subscribers.json", subscriber_api.subscribe_api, name="api-v2-subscribers"),
    path("api/v2/<path:name>", views.public_api, name="api-v2"),
    *private.urlpatterns,
]

# Every route above answers a private page only to a visitor with access (statuspage/private.py).
urlpatterns = private.guarded(urlpatterns)
