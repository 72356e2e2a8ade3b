from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from invoicing.admin.ops import ops_page
from invoicing.ops.health import healthz, readyz
from invoicing.ops.metrics import metrics_view
from invoicing.views import landing, pdf_download

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/ops/", admin.site.admin_view(ops_page), name="admin-ops"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("invoicing.api.lago.urls")),
    path("api/", include("invoicing.api.lotus.urls")),
    path("files/invoices/<str:token>", pdf_download, name="pdf-download"),
]
