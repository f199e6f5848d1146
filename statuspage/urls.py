from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from statuspage import branding, observability, security_headers, views
from statuspage.api import schema

urlpatterns = [
    # The admin signs in through the console's throttled, two-factor-aware sign-in, not its own form.
    path("admin/login/", RedirectView.as_view(pattern_name="console:login", query_string=True)),
    path("admin/", admin.site.urls),
    path("console/", include("statuspage.console_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI with its init script as a separate file (no inline script); inline styles allowed there only.
    path(
        "api/docs/",
        security_headers.allow_inline_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/v1/", include("statuspage.api.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics_view, name="metrics"),
    # The brand colour as a stylesheet (no inline <style> under the CSP): six hex digits, nothing else.
    re_path(r"^brand/(?P<colour>[0-9a-fA-F]{6})\.css$", branding.brand_css, name="brand-css"),
    # Uploaded logos. Small and few; a front server may serve MEDIA_ROOT itself instead.
    re_path(r"^media/(?P<path>.+)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("pages/<slug:slug>/", include(("statuspage.public_urls", "public"), namespace="by-slug")),
    path("", include(("statuspage.public_urls", "public"), namespace="by-host")),
]

# The management API's OpenAPI description, attached to its views once they are all imported.
schema.annotate()

handler404 = "statuspage.views.not_found"
handler500 = "statuspage.views.server_error"
