from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from statuspage import views
from statuspage.api import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("statuspage.console_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("statuspage.api.urls")),
    path("healthz", views.healthz, name="healthz"),
    # Uploaded logos. Small and few; a front server may serve MEDIA_ROOT itself instead.
    re_path(r"^media/(?P<path>.+)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("pages/<slug:slug>/", include(("statuspage.public_urls", "public"), namespace="by-slug")),
    path("", include(("statuspage.public_urls", "public"), namespace="by-host")),
]

# The management API's OpenAPI description, attached to its views once they are all imported.
schema.annotate()

handler404 = "statuspage.views.not_found"
handler500 = "statuspage.views.server_error"
