"""The public side of one page, mounted at /pages/<slug>/ and at / (custom domain, subdomain, single page)."""

from django.urls import path

from statuspage import views

urlpatterns = [
    path("", views.public_index, name="index"),
    path("live", views.public_live, name="live"),
    path("history", views.public_history, name="history"),
    path("history.atom", views.public_feed, {"name": "history.atom"}, name="atom"),
    path("history.rss", views.public_feed, {"name": "history.rss"}, name="rss"),
    path("incidents/<str:code>", views.public_incident, name="incident"),
    # Statuspage's public API v2 documents, served from the same snapshot.
    path("api/v2/<path:name>", views.public_api, name="api-v2"),
]
