from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from invoicing.errors import ValidationFailed
from invoicing.models import ApiKey, Organization
from invoicing.models.organizations import API_KEY_PREFIX_LENGTH, _new_hmac_key, hash_api_key

# A recognisable scheme word makes leaked keys easy to spot by secret scanners.
API_KEY_SCHEME = "ik_"


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def api_key_issue(
    *, organization: Organization, name: str = "", expires_at: dt.datetime | None = None
) -> IssuedApiKey:
    raw = API_KEY_SCHEME + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=raw[:API_KEY_PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        expires_at=expires_at,
    )
    return IssuedApiKey(api_key=key, raw_key=raw)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def _full_clean(organization: Organization) -> None:
    try:
        # The model's own rules (e-mail, country, number prefix), since no
        # form stands between operators' commands and this row.
        organization.full_clean()
    except DjangoValidationError as exc:
        raise ValidationFailed(
            {field: [e.code or "value_is_invalid" for e in errors]
             for field, errors in exc.error_dict.items()}
        ) from exc  # fmt: skip


def billing_entity_code_for(organization: Organization) -> str:
    """The code Lago gives an organization's default billing entity: its name
    as Rails' ``parameterize(separator: "_")`` writes it (accents dropped,
    runs of other characters as one "_", lowercase;
    ``Organizations::CreateService``). A name with no Latin letter or digit
    would give none; its id then names it."""
    ascii_name = unicodedata.normalize("NFKD", organization.name).encode("ascii", "ignore")
    code = re.sub(r"[^a-z0-9\-_]+", "_", ascii_name.decode(), flags=re.IGNORECASE)
    code = re.sub(r"_{2,}", "_", code).strip("_").lower()
    return code or f"org_{organization.id.hex[:8]}"


@transaction.atomic
def organization_create(*, name: str, **fields) -> tuple[Organization, IssuedApiKey]:
    organization = Organization(name=name, **fields)
    # Fixed at creation, as Lago's: renaming the organization keeps the code.
    organization.billing_entity_code = billing_entity_code_for(organization)
    _full_clean(organization)
    organization.save()
    return organization, api_key_issue(organization=organization, name="default")


# What an operator may change on an organization. The numbering scheme and
# prefix are fixed at creation (changing them mid-year would restart or fork
# the sequence of issued numbers); the HMAC key and the running count belong
# to their services.
ORGANIZATION_EDITABLE = (
    "name", "legal_name", "legal_number", "tax_identification_number", "address_line1",
    "address_line2", "city", "state", "zipcode", "country", "email", "phone", "logo",
    "invoice_footer", "document_locale", "timezone", "net_payment_term", "pdf_paper_size",
    "default_currency", "einvoicing_enabled", "electronic_address", "electronic_address_scheme",
    "iban", "bic",
)  # fmt: skip


@transaction.atomic
def organization_update(*, organization: Organization, data: dict) -> Organization:
    unknown = set(data) - set(ORGANIZATION_EDITABLE)
    if unknown:
        raise ValidationFailed({field: ["value_is_read_only"] for field in sorted(unknown)})
    for field, value in data.items():
        setattr(organization, field, value)
    _full_clean(organization)
    # Only what changed: a whole-row save would write back the numbering
    # counters as this request read them, and a finalization committed since
    # would see its sequential id handed out again (refused as a duplicate by
    # the unique constraint, for every finalization after it).
    organization.save(update_fields=[*data, "updated_at"])
    return organization


@transaction.atomic
def organization_hmac_key_rotate(*, organization: Organization) -> Organization:
    """A new key for `hmac` webhook signatures; deliveries signed from now on
    use it (each attempt is signed when it is sent)."""
    organization.hmac_key = _new_hmac_key()
    organization.save(update_fields=["hmac_key", "updated_at"])
    return organization
