from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from invoicing.views import pdf_download

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("invoicing.api.lago.urls")),
    path("api/", include("invoicing.api.lotus.urls")),
    path("files/invoices/<str:token>", pdf_download, name="pdf-download"),
]
