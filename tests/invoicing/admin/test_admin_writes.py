"""The admin writes only through the services, and only with the permission
to change (issue 15: a hostile review found view-only staff re-sending
webhooks, customers moved between organizations and revoked keys revived)."""

from __future__ import annotations

import io

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from invoicing.models import ApiKey, Customer, Invoice, Organization, Tax, WebhookDelivery
from invoicing.models.organizations import logo_path
from invoicing.services.organizations import api_key_revoke
from invoicing.services.pdf import _logo_bytes
from tests.factories import make_customer, make_invoice, make_organization, make_tax

pytestmark = pytest.mark.django_db


def _staff(*codenames: str) -> Client:
    user = get_user_model().objects.create_user(
        f"staff-{len(codenames)}-{'-'.join(codenames)}"[:150], "s@example.com", None,
        is_staff=True,
    )  # fmt: skip
    user.user_permissions.set(
        Permission.objects.filter(codename__in=codenames, content_type__app_label="invoicing")
    )
    client = Client()
    client.force_login(user)
    return client


def _post_form(client: Client, url: str, changes: dict) -> object:
    """Submit the change form as a browser would: its current values, with ``changes``."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if isinstance(field, forms.FileField):
            continue  # left out: unchanged
        value = form.initial.get(name, field.initial)
        if value is None:
            value = ""
        if hasattr(value, "pk"):
            value = value.pk
        data[name] = value
    data.update(changes)
    # Inline formsets (API keys under an organization) post their management form.
    for formset in page.context.get("inline_admin_formsets", []):
        management = formset.formset.management_form
        prefix = management.prefix
        data[f"{prefix}-TOTAL_FORMS"] = management.initial["TOTAL_FORMS"]
        data[f"{prefix}-INITIAL_FORMS"] = management.initial["INITIAL_FORMS"]
        for i, inline in enumerate(formset.formset.forms):
            data[f"{prefix}-{i}-id"] = inline.instance.pk
            data[f"{prefix}-{i}-organization"] = inline.instance.organization_id
    return client.post(url, data, follow=True)


def test_a_customer_cannot_be_moved_to_another_organization(staff_client):
    org_a, _ = make_organization()
    org_b, _ = make_organization()
    customer = make_customer(org_a, currency="EUR")
    url = f"/admin/invoicing/customer/{customer.pk}/change/"
    response = _post_form(staff_client, url, {"organization": str(org_b.pk), "name": "Renamed"})
    customer.refresh_from_db()
    assert customer.organization_id == org_a.id
    assert customer.name == "Renamed"  # what the service owns was saved, through it
    assert response.status_code == 200


def test_an_invoiced_customers_currency_is_read_only(staff_client, organization):
    customer = make_customer(organization, currency="EUR")
    make_invoice(organization, customer=customer)
    url = f"/admin/invoicing/customer/{customer.pk}/change/"
    _post_form(staff_client, url, {"currency": "USD"})
    customer.refresh_from_db()
    assert customer.currency == "EUR"


def test_a_refused_service_change_is_shown_and_not_saved(staff_client, organization):
    tax = make_tax(organization, rate="0", vat_category_code="AE")
    url = f"/admin/invoicing/tax/{tax.pk}/change/"
    response = _post_form(staff_client, url, {"rate": "20"})
    tax.refresh_from_db()
    assert tax.rate == 0
    assert "must_be_zero_for_vat_category" in response.content.decode()


def test_numbering_and_ownership_are_read_only(staff_client, organization):
    url = f"/admin/invoicing/organization/{organization.pk}/change/"
    _post_form(
        staff_client, url, {"numbering_scheme": "sequence", "number_prefix": "HACK", "name": "N2"}
    )
    organization.refresh_from_db()
    assert organization.numbering_scheme == Organization.NumberingScheme.DATE
    assert organization.number_prefix != "HACK"
    assert organization.name == "N2"


def test_a_revoked_key_stays_revoked(staff_client, organization):
    key = ApiKey.objects.get(organization=organization)
    api_key_revoke(api_key=key)
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at
    url = f"/admin/invoicing/apikey/{key.pk}/change/"
    staff_client.post(url, {"revoked_at_0": "", "revoked_at_1": "", "name": "x"})
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


def test_revoking_is_an_action_that_needs_the_change_permission(organization):
    key = ApiKey.objects.get(organization=organization)
    action = {"action": "revoke_keys", "_selected_action": [str(key.pk)]}
    viewer = _staff("view_apikey")
    viewer.post("/admin/invoicing/apikey/", action, follow=True)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    changer = _staff("view_apikey", "change_apikey")
    changer.post("/admin/invoicing/apikey/", action, follow=True)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_view_only_staff_cannot_resend_or_reenable_webhooks(organization):
    from invoicing.models import WebhookEndpoint
    from invoicing.services import webhook_endpoints

    endpoint = webhook_endpoints.webhook_endpoint_create(
        organization=organization, data={"webhook_url": "http://127.0.0.1:9/hook"}
    )
    make_invoice(organization)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_at=timezone.now())
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
    viewer = _staff("view_webhookendpoint", "view_webhookdelivery")
    viewer.post("/admin/invoicing/webhookendpoint/",
                {"action": "enable_endpoints", "_selected_action": [str(endpoint.pk)]})  # fmt: skip
    viewer.post("/admin/invoicing/webhookdelivery/",
                {"action": "retry_now", "_selected_action": [str(delivery.pk)]})  # fmt: skip
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled is False
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.FAILED
    changer = _staff("view_webhookendpoint", "change_webhookendpoint")
    enable = {"action": "enable_endpoints", "_selected_action": [str(endpoint.pk)]}
    changer.post("/admin/invoicing/webhookendpoint/", enable)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled is True


def test_the_ops_page_needs_view_permissions(organization):
    assert _staff().get("/admin/ops/").status_code == 403
    allowed = _staff("view_invoice", "view_webhookdelivery")
    assert allowed.get("/admin/ops/").status_code == 200


def test_nothing_is_created_or_deleted_here(staff_client, organization):
    for model in ("customer", "tax", "addon", "organization", "apikey"):
        assert staff_client.get(f"/admin/invoicing/{model}/add/").status_code == 403
    tax = make_tax(organization)
    assert staff_client.get(f"/admin/invoicing/tax/{tax.pk}/delete/").status_code == 403
    assert Tax.objects.filter(pk=tax.pk).exists()
    assert Customer.objects.count() == 0 and Invoice.objects.count() == 0


def test_a_customer_moved_at_the_database_level_takes_no_invoices_along():
    """Every query of both faces is scoped to the caller's organization: a
    customer row moved to another organization (by SQL, since the admin no
    longer can) shows that organization none of its former invoices."""
    from rest_framework.test import APIClient

    org_a, _ = make_organization()
    org_b, key_b = make_organization()
    customer = make_customer(org_a, currency="EUR", external_id="moved")
    invoice = make_invoice(org_a, customer=customer)
    Customer.objects.filter(pk=customer.pk).update(organization=org_b)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key_b)
    body = client.get("/api/customers/moved/").json()
    assert body["invoices"] == []
    listed = client.get("/api/customers/").json()
    assert all(not c["invoices"] for c in listed)
    lago = APIClient()
    lago.credentials(HTTP_AUTHORIZATION=f"Bearer {key_b}")
    assert lago.get(f"/api/v1/invoices/{invoice.pk}").status_code == 404
    assert lago.get("/api/v1/invoices").json()["invoices"] == []
    assert client.get(f"/api/invoices/invoice_{invoice.pk.hex}/").status_code == 404


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, "PNG")
    return out.getvalue()


def test_logos_uploaded_under_the_same_file_name_stay_each_organizations_own(staff_client):
    # Both storages overwrite an existing name; a shared "logos/logo.png"
    # put the last uploader's logo on the other organization's invoices.
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))
    org_a, _ = make_organization()
    org_b, _ = make_organization()
    for organization, image in ((org_a, red), (org_b, blue)):
        url = f"/admin/invoicing/organization/{organization.pk}/change/"
        upload = SimpleUploadedFile("logo.png", image, content_type="image/png")
        response = _post_form(staff_client, url, {"logo": upload})
        assert response.status_code == 200
    org_a.refresh_from_db()
    org_b.refresh_from_db()
    # What each organization's invoices are rendered with (services/pdf.py).
    assert _logo_bytes(org_a) == red
    assert _logo_bytes(org_b) == blue
    assert org_a.logo.name.startswith(f"logos/{org_a.pk}/")
    assert org_a.logo.name.endswith(".png")
    assert org_b.logo.name.startswith(f"logos/{org_b.pk}/")


def test_a_logo_file_name_gives_its_suffix_and_nothing_else():
    organization, _ = make_organization()
    for filename, suffix in (("Logo.PNG", ".png"), ("../../etc/x.jpg", ".jpg"), ("noext", ""),
                             ("a.p/ng", ""), ("x.p%g", ""), ("x.longsuffix", "")):  # fmt: skip
        path = logo_path(organization, filename)
        directory, _, name = path.rpartition("/")
        assert directory == f"logos/{organization.pk}"
        assert len(name) == 32 + len(suffix) and name.endswith(suffix), (filename, path)
