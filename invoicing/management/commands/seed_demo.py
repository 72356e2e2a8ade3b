"""A demo organization with customers, taxes, add-ons and invoices of varied
sizes, currencies and locales; prints a fresh API key for it."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from invoicing.models import AddOn, Credit, Customer, Invoice, Organization, WebhookEndpoint
from invoicing.services import catalog, invoices, organizations, webhook_endpoints
from invoicing.services.invoices import CreditInput, FeeInput
from invoicing.services.organizations import api_key_issue, api_key_revoke, organization_create

DEMO_NAME = "Demo Billing Co"
DEMO_KEY_PREFIX = "demo "
# The demo organization's endpoint to make run's receiver (scripts/webhook_receiver.py).
DEMO_ENDPOINT_NAME = "make run receiver"

CUSTOMERS = [
    # external_id, name, currency, locale, country, timezone
    ("acme-us", "Acme Corporation", "USD", "en", "US", "America/New_York"),
    ("dupont-fr", "Émilie Dupont SARL", "EUR", "fr", "FR", "Europe/Paris"),
    ("mueller-de", "Müller & Söhne GmbH", "EUR", "de", "DE", "Europe/Berlin"),
    ("garcia-es", "García Ingeniería S.L.", "EUR", "es", "ES", "Europe/Madrid"),
    ("rossi-it", "Rossi S.p.A.", "EUR", "it", "IT", "Europe/Rome"),
    ("bakker-nl", "Bakker B.V.", "EUR", "nl", "NL", "Europe/Amsterdam"),
    ("hansen-no", "Hansen Ærlig AS", "NOK", "nb", "NO", "Europe/Oslo"),
    ("lind-se", "Lindström AB", "SEK", "sv", "SE", "Europe/Stockholm"),
    ("souza-br", "Souza Tecnologia Ltda", "BRL", "pt-BR", "BR", "America/Sao_Paulo"),
    ("wojcik-pl", "Wójcik Łukasz Sp. z o.o.", "PLN", "pl", "PL", "Europe/Warsaw"),
    ("tanaka-jp", "田中商事株式会社", "JPY", "ja", "JP", "Asia/Tokyo"),
    ("chen-tw", "陳氏科技有限公司", "TWD", "zh-TW", "TW", "Asia/Taipei"),
    ("gulf-bh", "Gulf Trading W.L.L.", "BHD", "en", "BH", "Asia/Bahrain"),
    ("emirates-ae", "Emirates Logistics LLC", "AED", "en", "AE", "Asia/Dubai"),
]

ADD_ONS = [
    ("setup", "Setup fee", "One-time onboarding and account configuration", 50_000),
    ("support", "Premium support", "24/7 support with a 1-hour response time", 20_000),
    ("seats", "Additional seats", "Per-seat licence", 1_500),
    ("storage", "Extra storage", "Per 100 GB per month", 900),
    ("training", "Training session", "Half-day remote training", 75_000),
]

# --einvoicing: the seller's data EN 16931 needs (a German VAT number as its
# Peppol endpoint, EAS 9930), and the EU customers' VAT numbers with the EAS
# scheme of their country's VAT numbers.
DEMO_SELLER = {
    "electronic_address": "DE123456789",
    "electronic_address_scheme": "9930",
    "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX",
}
EU_CUSTOMERS = {
    # external_id: (VAT identifier, EAS scheme of that country's VAT numbers)
    "mueller-de": ("DE811907980", "9930"),
    "dupont-fr": ("FR40303265045", "9957"),
    "garcia-es": ("ESB12345674", "9920"),
    "rossi-it": ("IT12345678903", "0211"),
    "bakker-nl": ("NL123456789B01", "9944"),
    "wojcik-pl": ("PL5260250274", "9945"),
}
# Unit of measure of each demo add-on's quantities (UN/ECE Rec. 20): C62 a
# unit, MON a month, HUR an hour.
UNIT_CODES = {"setup": "C62", "support": "MON", "seats": "C62", "storage": "MON",
              "training": "HUR"}  # fmt: skip

# Invoice sizes: mostly short, a few long enough to span many pages.
SIZES = [1, 1, 2, 3, 3, 5, 8, 12, 20, 40, 120, 600]


class Command(BaseCommand):
    help = "Create (or top up) the demo organization and print an API key for it."

    def add_arguments(self, parser):
        parser.add_argument("--invoices", type=int, default=36)
        parser.add_argument("--seed", type=int, default=7, help="Random seed (reproducible data)")
        parser.add_argument(
            "--einvoicing",
            action="store_true",
            help="Make the demo organization e-invoicing-ready (the seller's data, EU "
            "customers with VAT numbers and Peppol endpoints, unit codes, a reverse-charge "
            "tax), turn e-invoicing on and issue a few e-invoices",
        )
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--webhook-url",
            help="give the demo organization an hmac-signed webhook endpoint to this URL "
            "(make run's receiver), or move the one it has",
        )
        parser.add_argument(
            "--hmac-key-file",
            type=Path,
            help="write the organization's HMAC key here, for the receiver to verify with",
        )

    def handle(self, *args, **options):
        rng = random.Random(options["seed"])
        organization = Organization.objects.filter(name=DEMO_NAME).first()
        created = organization is None
        if created:
            organization = self._create_demo(rng, options["invoices"])
        einvoices = 0
        if options["einvoicing"] and not organization.einvoicing_enabled:
            einvoices = self._einvoicing(organization)
        # Only the newest demo key works: each run revokes the ones it printed
        # before (their raw text is not kept, so none can be shown again).
        earlier = list(
            organization.api_keys.filter(name__startswith=DEMO_KEY_PREFIX, revoked_at__isnull=True)
        )
        for api_key in earlier:
            api_key_revoke(api_key=api_key)
        issued = api_key_issue(
            organization=organization, name=f"{DEMO_KEY_PREFIX}{timezone.now():%F %T}"
        )
        endpoint = None
        if options["webhook_url"]:
            endpoint = self._demo_endpoint(organization, options["webhook_url"])
        if options["hmac_key_file"]:
            path = options["hmac_key_file"]
            # It signs the organization's webhooks: readable by this user only.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(organization.hmac_key)
        result = {
            "organization_id": str(organization.id),
            "api_key": issued.raw_key,
            "created": created,
            "invoices": organization.invoices.count(),
            "revoked_keys": [api_key.prefix for api_key in earlier],
            "einvoicing": organization.einvoicing_enabled,
            "einvoices_issued": einvoices,
            "webhook_url": endpoint.webhook_url if endpoint else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            verb = "Created" if created else "Found"
            self.stdout.write(
                f"{verb} {DEMO_NAME} ({organization.id}), {result['invoices']} invoices"
            )
            self.stdout.write(f"API key (shown once): {issued.raw_key}")
            if result["einvoicing"]:
                self.stdout.write(
                    f"E-invoicing on: {einvoices} e-invoice(s) issued now to EU customers"
                )
            if earlier:
                self.stdout.write(
                    f"Revoked the {len(earlier)} demo key(s) printed before "
                    f"({', '.join(k.prefix + '…' for k in earlier)}): only this one works now."
                )
            if endpoint:
                self.stdout.write(
                    f"Webhooks of every event go to {endpoint.webhook_url} "
                    "(signed hmac with the organization's key)"
                )

    @transaction.atomic
    def _demo_endpoint(self, organization: Organization, url: str) -> WebhookEndpoint:
        """The demo's one endpoint to the receiver, created once and moved when the
        receiver's port changes (PORT=8001 make run)."""
        endpoint = WebhookEndpoint.objects.filter(
            organization=organization, name=DEMO_ENDPOINT_NAME
        ).first()
        data = {"webhook_url": url, "signature_algo": "hmac", "event_types": None}
        if endpoint is None:
            return webhook_endpoints.webhook_endpoint_create(
                organization=organization, data={**data, "name": DEMO_ENDPOINT_NAME}
            )
        return webhook_endpoints.webhook_endpoint_update(endpoint=endpoint, data=data)

    @transaction.atomic
    def _einvoicing(self, organization: Organization) -> int:
        """Fill in what EN 16931 needs, turn e-invoicing on, and issue one
        e-invoice to each EU customer: German VAT to the German one, reverse
        charge (AE) to the others. The invoices issued before stay as they
        were (plain PDFs)."""
        organizations.organization_update(
            organization=organization, data={**DEMO_SELLER, "einvoicing_enabled": True}
        )
        catalog.tax_create(
            organization=organization,
            data={"code": "reverse_charge", "name": "Reverse charge", "rate": Decimal(0),
                  "vat_category_code": "AE"},
        )  # fmt: skip
        for add_on in AddOn.objects.filter(organization=organization):
            unit = UNIT_CODES.get(add_on.code.rsplit("-", 1)[0], "C62")
            catalog.add_on_update(add_on=add_on, data={"unit_code": unit})
        issued = 0
        for external_id, (vat_id, scheme) in EU_CUSTOMERS.items():
            customer, _ = catalog.customer_upsert(
                organization=organization,
                external_id=external_id,
                data={"legal_name": Customer.objects.get(organization=organization,
                                                         external_id=external_id).name,
                      "tax_identification_number": vat_id, "electronic_address": vat_id,
                      "electronic_address_scheme": scheme, "buyer_reference": f"REF-{external_id}"},
            )  # fmt: skip
            taxes = ["vat19"] if customer.country == "DE" else ["reverse_charge"]
            invoices.invoice_create(
                organization=organization,
                external_customer_id=external_id,
                fees=[
                    FeeInput(
                        add_on_code=f"{code}-{customer.currency.lower()}",
                        units=Decimal(units),
                        tax_codes=taxes,
                    )
                    for code, units in (("support", "1"), ("seats", "12"), ("training", "2"))
                ],  # fmt: skip
                credits=[
                    CreditInput(
                        kind=Credit.Kind.COUPON,
                        amount_cents=1_000,
                        code="WELCOME10",
                        name="Welcome discount",
                    )
                ],  # fmt: skip
            )
            issued += 1
        return issued

    @transaction.atomic
    def _create_demo(self, rng: random.Random, count: int) -> Organization:
        organization, _ = organization_create(
            name=DEMO_NAME,
            legal_name="Demo Billing Company Ltd.",
            legal_number="HRB 123456",
            tax_identification_number="DE123456789",
            address_line1="1 Invoice Street",
            city="Berlin",
            zipcode="10115",
            country="DE",
            email="billing@demo.example",
            phone="+49 30 1234567",
            invoice_footer="Thank you for your business. Bank: DE89 3704 0044 0532 0130 00",
            net_payment_term=30,
        )
        vat = catalog.tax_create(
            organization=organization, data={"code": "vat19", "name": "VAT", "rate": Decimal(19)}
        )
        reduced = catalog.tax_create(
            organization=organization,
            data={"code": "vat7", "name": "Reduced VAT", "rate": Decimal(7)},
        )
        customers = []
        for external_id, name, currency, locale, country, tz in CUSTOMERS:
            customer, _ = catalog.customer_upsert(
                organization=organization,
                external_id=external_id,
                data={
                    "name": name,
                    "currency": currency,
                    "document_locale": locale,
                    "country": country,
                    "timezone": tz,
                    "email": f"billing@{external_id}.example",
                    "address_line1": "42 Customer Road",
                    "city": "Capital City",
                    "zipcode": "12345",
                },
            )
            customers.append(customer)
        for currency in sorted({c.currency for c in customers}):
            for code, name, description, amount in ADD_ONS:
                catalog.add_on_create(
                    organization=organization,
                    data={
                        "code": f"{code}-{currency.lower()}",
                        "name": name,
                        "description": description,
                        "amount_cents": amount,
                        "amount_currency": currency,
                        "tax_codes": [reduced.code if code == "training" else vat.code],
                    },
                )
        today = timezone.now()
        for index in range(count):
            customer = customers[index % len(customers)]
            size = SIZES[index % len(SIZES)]
            codes = [f"{code}-{customer.currency.lower()}" for code, *_ in ADD_ONS]
            fees = []
            for line in range(size):
                start = today - dt.timedelta(days=30 * (line % 12 + 1))
                fees.append(
                    FeeInput(
                        add_on_code=rng.choice(codes),
                        units=Decimal(rng.choice(["1", "2", "3", "0.5", "12", "1.25"])),
                        from_datetime=start,
                        to_datetime=start + dt.timedelta(days=29),
                        plan_name="Scale plan" if size >= 20 and line % 2 else "",
                    )
                )
            credits = []
            if index % 5 == 0:
                credits.append(CreditInput(kind=Credit.Kind.COUPON, amount_cents=1_000,
                                           code="WELCOME10", name="Welcome discount"))  # fmt: skip
            if index % 7 == 0:
                credits.append(CreditInput(kind=Credit.Kind.PREPAID, amount_cents=2_500,
                                           name="Prepaid credits"))  # fmt: skip
            invoice = invoices.invoice_create(
                organization=organization,
                external_customer_id=customer.external_id,
                fees=fees,
                credits=credits,
                purchase_order_number=f"PO-{1000 + index}" if index % 3 == 0 else "",
                status=Invoice.Status.DRAFT if index % 9 == 8 else Invoice.Status.FINALIZED,
                metadata=[{"key": "Contract", "value": f"C-{index:04d}"}] if index % 4 == 0 else [],
            )
            if index % 6 == 0 and invoice.status == Invoice.Status.FINALIZED:
                invoices.invoice_update(invoice=invoice, payment_status="succeeded")
            if index % 11 == 10 and invoice.status == Invoice.Status.FINALIZED:
                invoices.invoice_void(invoice=invoice)
        return organization
