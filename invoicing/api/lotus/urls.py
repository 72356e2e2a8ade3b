from django.urls import path, re_path

from invoicing.api.lotus import views
from invoicing.api.lotus.errors import not_found_view


def _route(route: str, view) -> list:
    """Lotus's routes end with a slash. A client that drops it is served, not
    redirected (a redirected POST loses its body); only the slashed form is in
    the OpenAPI schema."""
    return [path(f"{route}/", view.as_view()), path(route, view.as_view(schema=None))]


urlpatterns = [
    *_route("customers", views.CustomersApi),
    *_route("customers/<str:customer_id>", views.CustomerApi),
    *_route("invoices", views.InvoicesApi),
    *_route("invoices/<str:invoice_id>", views.InvoiceApi),
    *_route("invoices/<str:invoice_id>/pdf_url", views.InvoicePdfUrlApi),
    # Anything else under /api/ (Lago's /api/v1/ and the schema come first) is
    # Lotus's JSON 404, whatever the method; except the schema and docs pages
    # without their slash, left unmatched for APPEND_SLASH to redirect.
    re_path(r"^(?!(schema|docs)$).*$", not_found_view),
]
