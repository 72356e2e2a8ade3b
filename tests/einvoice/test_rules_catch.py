"""The checks can fail: invoices broken on purpose fail the rules they break.

Built without a database from plain snapshots, through the same builders the
PDF job uses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from invoicing.einvoice import render_einvoice, validate
from invoicing.einvoice.cii import build_cii
from invoicing.einvoice.readiness import einvoice_missing
from invoicing.einvoice.ubl import build_ubl
from invoicing.pdf.snapshot import (
    Address,
    AppliedTax,
    Credit,
    EInvoiceTerms,
    FeeLine,
    InvoiceSnapshot,
    Party,
)


def snapshot(**changes) -> InvoiceSnapshot:
    """One fee of 2 x 150.00 at 20 %, a 10.00 coupon: 290.00 + 58.00 = 348.00."""
    base = InvoiceSnapshot(
        id="0b1e7a52-7c1e-4d1c-9a55-3c8f2f3b6d10",
        number="ACM-000042",
        status="finalized",
        invoice_type="one_off",
        currency="EUR",
        issuing_date=dt.date(2026, 3, 2),
        payment_due_date=dt.date(2026, 4, 1),
        net_payment_term=30,
        created_at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC),
        locale="en",
        organization=Party(
            name="Acme Cloud",
            legal_name="Acme Cloud SAS",
            tax_identification_number="FR12912345678",
            address=Address(line1="12 rue de la Paix", city="Paris", zipcode="75002", country="FR"),
            electronic_address="FR12912345678",
            electronic_address_scheme="9957",
        ),  # fmt: skip
        customer=Party(
            name="Globex GmbH",
            legal_name="Globex GmbH",
            tax_identification_number="DE123456789",
            address=Address(line1="Hauptstraße 5", city="Berlin", zipcode="10115", country="DE"),
            electronic_address="DE123456789",
            electronic_address_scheme="9930",
        ),  # fmt: skip
        fees=(
            FeeLine(
                display_name="Consulting",
                units=Decimal(2),
                unit_amount_cents=Decimal(15_000),
                amount_cents=30_000,
                taxes_rate=Decimal(20),
                taxes_amount_cents=5_800,
                vat_category_code="S",
                coupons_amount_cents=Decimal(1_000),
            ),
        ),  # fmt: skip
        applied_taxes=(AppliedTax("VAT", "vat20", Decimal(20), 5_800, 29_000),),
        credits=(Credit("coupon", "Welcome", 1_000),),
        fees_amount_cents=30_000,
        coupons_amount_cents=1_000,
        sub_total_excluding_taxes_amount_cents=29_000,
        taxes_amount_cents=5_800,
        sub_total_including_taxes_amount_cents=34_800,
        total_amount_cents=34_800,
        total_due_amount_cents=34_800,
        einvoice=EInvoiceTerms(buyer_reference="LEITWEG-1", iban="FR7630006000011234567890189"),
    )
    return dataclasses.replace(base, **changes)


def failed_rules(xml: bytes) -> set[str]:
    return {f.rule for f in validate.validate_xml(xml) if f.fatal}


def test_the_sound_invoice_passes(rules_compiled):
    assert failed_rules(build_cii(snapshot())) == set()
    assert failed_rules(build_ubl(snapshot())) == set()


def test_a_tax_total_that_does_not_follow_from_the_base_fails_br_co_17(rules_compiled):
    # 3.00 more tax than 20 % of 290.00 (and the grand total left alone).
    broken = snapshot(
        applied_taxes=(AppliedTax("VAT", "vat20", Decimal(20), 6_100, 29_000),),
        taxes_amount_cents=6_100,
    )
    for xml in (build_cii(broken), build_ubl(broken)):
        # BR-CO-17 and BR-S-09: 61.00 is not 20 % of 290.00 (one unit of
        # tolerance); BR-CO-15: 290.00 + 61.00 is not the 348.00 total.
        assert {"BR-CO-17", "BR-S-09", "BR-CO-15"} <= failed_rules(xml)


def test_lines_that_do_not_add_up_fail_br_co_10(rules_compiled):
    xml = build_ubl(snapshot()).replace(
        b'<cbc:LineExtensionAmount currencyID="EUR">300.00</cbc:LineExtensionAmount>'
        b"<cbc:TaxExclusiveAmount",
        b'<cbc:LineExtensionAmount currencyID="EUR">310.00</cbc:LineExtensionAmount>'
        b"<cbc:TaxExclusiveAmount",
    )
    assert "BR-CO-10" in failed_rules(xml)
    cii = build_cii(snapshot()).replace(
        b"<ram:LineTotalAmount>300.00</ram:LineTotalAmount><ram:AllowanceTotalAmount>",
        b"<ram:LineTotalAmount>310.00</ram:LineTotalAmount><ram:AllowanceTotalAmount>",
    )
    assert "BR-CO-10" in failed_rules(cii)


def test_reverse_charge_without_the_buyers_vat_id_fails_br_ae(rules_compiled):
    fee = dataclasses.replace(
        snapshot().fees[0], vat_category_code="AE", taxes_rate=Decimal(0), taxes_amount_cents=0
    )
    broken = snapshot(
        fees=(fee,),
        applied_taxes=(AppliedTax("RC", "ae", Decimal(0), 0, 29_000, "AE"),),
        taxes_amount_cents=0,
        sub_total_including_taxes_amount_cents=29_000,
        total_amount_cents=29_000,
        total_due_amount_cents=29_000,
        customer=dataclasses.replace(snapshot().customer, tax_identification_number=""),
    )
    assert "BR-AE-02" in failed_rules(build_cii(broken))
    # The service never issues it: finalization names the missing datum.
    missing = einvoice_missing(broken)
    assert missing == {"customer.tax_identification_number": ["value_is_mandatory"]}


def test_peppol_rules_run_on_ubl(rules_compiled):
    broken = snapshot(einvoice=EInvoiceTerms(iban="FR7630006000011234567890189"))
    # No buyer reference nor purchase order: Peppol's R003 (EN 16931 has no
    # such rule, so the CII passes).
    assert "PEPPOL-EN16931-R003" in failed_rules(build_ubl(broken))
    assert failed_rules(build_cii(broken)) == set()
    assert einvoice_missing(broken) == {"customer.buyer_reference": ["value_is_mandatory"]}


def test_the_schema_rejects_a_malformed_document(rules_compiled):
    xml = build_cii(snapshot()).replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    failures = validate.validate_xml(xml)
    assert any(f.source == "xsd" for f in failures)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"currency": "BHD"}, {"currency": ["value_is_invalid"]}),
        (
            {"organization": Party(name="Acme")},
            {
                "organization.country": ["value_is_mandatory"],
                "organization.tax_identification_number": ["value_is_mandatory"],
                "organization.electronic_address": ["value_is_mandatory"],
                "organization.electronic_address_scheme": ["value_is_mandatory"],
            },
        ),
        (
            {"einvoice": EInvoiceTerms(buyer_reference="X", iban="not an iban")},
            {"organization.iban": ["value_is_invalid"]},
        ),  # fmt: skip
    ],
)
def test_readiness_names_each_missing_datum(changes, expected):
    assert einvoice_missing(snapshot(**changes)) == expected


def test_the_sound_snapshot_is_ready_and_renders():
    assert einvoice_missing(snapshot()) == {}
    assert render_einvoice(snapshot()).pdf.startswith(b"%PDF-1.7")


def test_markup_and_control_characters_in_names_stay_valid_xml(rules_compiled):
    hostile = 'Müller & <Söhne> "GmbH"\x01\x0b'
    party = dataclasses.replace(snapshot().customer, name=hostile, legal_name=hostile)
    fee = dataclasses.replace(snapshot().fees[0], display_name="<b>Consulting</b> & co")
    odd = snapshot(customer=party, fees=(fee,), invoice_footer="Pay < 30 days & thanks")
    for xml in (build_cii(odd), build_ubl(odd)):
        assert failed_rules(xml) == set()
        assert b"M\xc3\xbcller &amp; &lt;S\xc3\xb6hne&gt;" in xml and b"\x01" not in xml
