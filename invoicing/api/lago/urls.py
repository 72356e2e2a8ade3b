from django.urls import path, re_path

from invoicing.api.lago import credit_notes, views
from invoicing.api.lago.errors import not_found_view

urlpatterns = [
    path("organizations", views.OrganizationApi.as_view()),
    path("customers", views.CustomersApi.as_view()),
    path("customers/<str:external_id>", views.CustomerApi.as_view()),
    path("customers/<str:external_id>/invoices", views.CustomerInvoicesApi.as_view()),
    path("taxes", views.TaxesApi.as_view()),
    path("taxes/<str:code>", views.TaxApi.as_view()),
    path("add_ons", views.AddOnsApi.as_view()),
    path("add_ons/<str:code>", views.AddOnApi.as_view()),
    path("invoices", views.InvoicesApi.as_view()),
    path("invoices/<str:invoice_id>", views.InvoiceApi.as_view()),
    path("invoices/<str:invoice_id>/finalize", views.InvoiceFinalizeApi.as_view()),
    path("invoices/<str:invoice_id>/void", views.InvoiceVoidApi.as_view()),
    path("invoices/<str:invoice_id>/download", views.InvoiceDownloadApi.as_view()),
    # lago-api's newer name for the same action.
    path("invoices/<str:invoice_id>/download_pdf", views.InvoiceDownloadApi.as_view()),
    path("credit_notes", credit_notes.CreditNotesApi.as_view()),
    path("credit_notes/estimate", credit_notes.CreditNoteEstimateApi.as_view()),
    path("credit_notes/<str:credit_note_id>", credit_notes.CreditNoteApi.as_view()),
    path("credit_notes/<str:credit_note_id>/void", credit_notes.CreditNoteVoidApi.as_view()),
    path(
        "credit_notes/<str:credit_note_id>/download", credit_notes.CreditNoteDownloadApi.as_view()
    ),
    path(
        "credit_notes/<str:credit_note_id>/download_pdf",
        credit_notes.CreditNoteDownloadApi.as_view(),
    ),
    path(
        "credit_notes/<str:credit_note_id>/download_xml",
        credit_notes.CreditNoteDownloadXmlApi.as_view(),
    ),
    path("customers/<str:external_id>/credit_notes", credit_notes.CustomerCreditNotesApi.as_view()),
    path("invoices/<str:invoice_id>/download_xml", views.InvoiceDownloadXmlApi.as_view()),
    path("webhook_endpoints", views.WebhookEndpointsApi.as_view()),
    path("webhook_endpoints/<str:endpoint_id>", views.WebhookEndpointApi.as_view()),
    path(
        "webhook_endpoints/<str:endpoint_id>/rotate_secret",
        views.WebhookEndpointRotateSecretApi.as_view(),
    ),
    path("webhooks/json_public_key", views.WebhookPublicKeyApi.as_view()),
    path("webhooks/public_key", views.WebhookPublicKeyTextApi.as_view()),
    path("webhooks/hmac_key", views.WebhookHmacKeyApi.as_view()),
    # Anything else under /api/v1/ is Lago's JSON 404, whatever the method.
    re_path(r"^.*$", not_found_view),
]
