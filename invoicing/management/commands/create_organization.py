import json
import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from invoicing.errors import ValidationFailed
from invoicing.services.organizations import organization_create
from invoicing.services.webhook_endpoints import webhook_endpoint_create


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
            raise CommandError(f"--webhook-url {webhook_url!r} refused ({problems})") from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Organization {organization.name}: {organization.id}")
            self.stdout.write(f"API key (shown once, store it now): {issued.raw_key}")
            self.stdout.write(f"HMAC key of hmac webhook signatures: {organization.hmac_key}")
