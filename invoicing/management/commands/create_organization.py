import json
import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from invoicing.errors import ValidationFailed
from invoicing.services.organizations import organization_create
from invoicing.services.webhook_endpoints import webhook_endpoint_create

# (model field, option, spaces removed): the seller's e-invoicing data.
SELLER_OPTIONS = (
    ("legal_name", "legal_name", False),
    ("tax_identification_number", "tax_id", True),
    ("legal_number", "legal_number", False),
    ("address_line1", "address_line1", False),
    ("city", "city", False),
    ("zipcode", "zipcode", False),
    ("country", "country", False),
    ("email", "email", False),
    ("electronic_address", "electronic_address", False),
    ("electronic_address_scheme", "electronic_address_scheme", False),
    ("iban", "iban", True),
    ("bic", "bic", True),
)


class Command(BaseCommand):
    help = "Create an organization and print its API key (shown only here)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--webhook-url", help="Register a webhook endpoint for it")
        parser.add_argument("--locale", default="en", help="Document locale (default en)")
        parser.add_argument("--timezone", default="UTC")
        parser.add_argument(
            "--default-currency",
            default="USD",
            help="Currency of customers created without one (default USD, as Lotus's)",
        )
        parser.add_argument(
            "--einvoicing",
            action="store_true",
            help="Issue e-invoices (Factur-X PDFs and UBL XML, EN 16931): finalizing then "
            "refuses an invoice that lacks a mandatory datum, so give the seller's data too",
        )
        # The seller's data EN 16931 needs (also settable later through
        # PUT /api/v1/organizations or the admin).
        for flag, help_text in (
            ("--legal-name", "Registered name (BT-27)"),
            ("--tax-id", "VAT identifier with its country prefix, e.g. FR12912345678 (BT-31)"),
            ("--legal-number", "Registration number (BT-30)"),
            ("--address-line1", "Street (BT-35)"),
            ("--city", "City (BT-37)"),
            ("--zipcode", "Post code (BT-38)"),
            ("--country", "ISO 3166-1 alpha-2 country code (BT-40)"),
            ("--email", "Billing e-mail address"),
            ("--electronic-address", "Peppol endpoint identifier (BT-34)"),
            ("--electronic-address-scheme", "Its EAS scheme, e.g. 9957 (FR VAT), 0088 (GLN)"),
            ("--iban", "Account the buyers pay into (BT-84)"),
            ("--bic", "Its bank's BIC (BT-86)"),
        ):
            parser.add_argument(flag, default="", help=help_text)
        parser.add_argument("--json", action="store_true", help="Print machine-readable JSON")

    def handle(self, *args, **options):
        webhook_url = options.get("webhook_url")
        try:
            zoneinfo.ZoneInfo(options["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(f"unknown time zone {options['timezone']!r}") from exc
        try:
            # One transaction: a refused webhook URL leaves no organization behind.
            with transaction.atomic():
                organization, issued = organization_create(
                    name=options["name"],
                    document_locale=options["locale"],
                    timezone=options["timezone"],
                    default_currency=options["default_currency"].upper(),
                    einvoicing_enabled=options["einvoicing"],
                    **{
                        field: options[option].replace(" ", "") if compact else options[option]
                        for field, option, compact in SELLER_OPTIONS
                        if options[option]
                    },
                )
                result = {
                    "organization_id": str(organization.id),
                    "api_key": issued.raw_key,
                    # Verifies `hmac` webhook signatures; retrievable and
                    # rotatable later through GET/POST /api/v1/webhooks/hmac_key.
                    "hmac_key": organization.hmac_key,
                }
                if webhook_url:
                    endpoint = webhook_endpoint_create(
                        organization=organization, data={"webhook_url": webhook_url}
                    )
                    result["webhook_endpoint_id"] = str(endpoint.id)
        except ValidationFailed as exc:
            problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.details.items())
            if webhook_url and set(exc.details) <= {"webhook_url"}:
                raise CommandError(f"--webhook-url {webhook_url!r} refused ({problems})") from exc
            raise CommandError(f"refused ({problems})") from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Organization {organization.name}: {organization.id}")
            self.stdout.write(f"API key (shown once, store it now): {issued.raw_key}")
            self.stdout.write(f"HMAC key of hmac webhook signatures: {organization.hmac_key}")
