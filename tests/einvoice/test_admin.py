"""Operators turn e-invoicing on, and fill in its data, in the admin."""

from __future__ import annotations

from tests.invoicing.admin.test_admin_writes import _post_form


def test_the_admin_turns_einvoicing_on_through_the_service(admin_client, organization):
    url = f"/admin/invoicing/organization/{organization.pk}/change/"
    changes = {
        "einvoicing_enabled": "on",
        "iban": "FR7630006000011234567890189",
        "electronic_address": "FR12912345678",
        "electronic_address_scheme": "9957",
    }
    _post_form(admin_client, url, changes)
    organization.refresh_from_db()
    assert organization.einvoicing_enabled
    assert organization.iban == "FR7630006000011234567890189"
    assert organization.electronic_address_scheme == "9957"


def test_the_admin_refuses_a_malformed_iban(admin_client, organization):
    url = f"/admin/invoicing/organization/{organization.pk}/change/"
    response = _post_form(admin_client, url, {"iban": "FR76 not an IBAN"})
    organization.refresh_from_db()
    assert organization.iban == ""
    assert "IBAN" in response.content.decode()
