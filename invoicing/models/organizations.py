from __future__ import annotations

import hashlib
import secrets
import uuid
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from invoicing.crypto import EncryptedTextField
from invoicing.money import is_currency

# Length of the public part of an API key kept in clear for lookup; the rest
# is secret and only its hash is stored.
API_KEY_PREFIX_LENGTH = 12


def validate_currency_code(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code.")


def _new_hmac_key() -> str:
    return secrets.token_urlsafe(32)


def logo_path(organization: Organization, filename: str) -> str:
    """Where an uploaded logo is stored: under its organization's id, by a
    new random name each time.

    Both configured storages overwrite an existing name (the PDFs' keys name
    their content, so a re-run writes the same bytes), so a shared name such
    as ``logos/logo.png`` would put the last uploader's logo on every other
    organization's invoices that used that file name.
    """
    suffix = PurePosixPath(filename).suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ""
    return f"logos/{organization.pk}/{uuid.uuid4().hex}{suffix}"


class Organization(models.Model):
    class NumberingScheme(models.TextChoices):
        # YYMMDD-NNNNNN, the sequence restarting each issuing day (Lotus's format).
        DATE = "date", "Per day (YYMMDD-NNNNNN)"
        # PREFIX-NNNNNN, one sequence for the organization's lifetime.
        SEQUENCE = "sequence", "Plain sequence with a prefix"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    legal_name = models.CharField(max_length=255, blank=True)
    legal_number = models.CharField(max_length=255, blank=True)
    tax_identification_number = models.CharField(max_length=255, blank=True)
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=255, blank=True)
    zipcode = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=64, blank=True)
    logo = models.ImageField(upload_to=logo_path, blank=True)
    invoice_footer = models.TextField(blank=True)
    # The currency of a customer created without one, as Lotus's organization
    # setting (upstream's default is USD); invoices carry their own currency.
    default_currency = models.CharField(
        max_length=3, default="USD", validators=[validate_currency_code]
    )
    document_locale = models.CharField(max_length=16, default="en")
    timezone = models.CharField(max_length=64, default="UTC")
    net_payment_term = models.PositiveIntegerField(default=0, help_text="Days")
    # The PDFs' paper: "" follows each customer's country (US Letter in the
    # Americas' Letter countries, A4 elsewhere); "A4" or "LETTER" for all.
    pdf_paper_size = models.CharField(
        max_length=8,
        blank=True,
        choices=[("", "By the customer's country"), ("A4", "A4"), ("LETTER", "US Letter")],
    )
    # Signs `hmac` webhooks; encrypted at rest (invoicing/crypto.py).
    hmac_key = EncryptedTextField(default=_new_hmac_key, editable=False)
    numbering_scheme = models.CharField(
        max_length=16, choices=NumberingScheme.choices, default=NumberingScheme.DATE
    )
    number_prefix = models.CharField(
        max_length=20,
        blank=True,
        # Numbers are looked up whole in URLs (Lotus's pdf_url): no spaces,
        # slashes or other characters that would need escaping there.
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                "Letters, digits, '-' and '_' only, starting with a letter or digit.",
            )
        ],
    )
    # The code of the organization's one billing entity, as Lago names its
    # default entity (``Organizations::CreateService``: the name,
    # parameterized); invoices and customers carry it as ``billing_entity_code``.
    billing_entity_code = models.CharField(max_length=255, blank=True, editable=False)
    # Last organization-wide sequential id handed out; only changed under a
    # row lock held by invoice finalization.
    last_sequential_id = models.PositiveBigIntegerField(default=0, editable=False)
    # The last number given in the scope the organization last numbered in
    # (a day, or the sequence of its prefix), changed with last_sequential_id
    # under the same lock: finalizing reads its number here instead of from
    # the invoices. A scope other than this one starts from the invoices' own
    # last number (services.invoices._number).
    last_number_scope = models.CharField(max_length=32, blank=True, editable=False)
    last_number_sequence = models.PositiveIntegerField(default=0, editable=False)
    # E-invoicing (EN 16931): when on, every finalized invoice is a Factur-X
    # PDF (PDF/A-3b with its CII XML) with a UBL (Peppol BIS 3.0) XML beside
    # it, and finalizing refuses an invoice that lacks a mandatory element.
    einvoicing_enabled = models.BooleanField(default=False)
    # The seller's Peppol endpoint (BT-34) and its scheme (an EAS code such as
    # 0088, 9930 or EM).
    electronic_address = models.CharField(max_length=255, blank=True)
    electronic_address_scheme = models.CharField(
        max_length=8,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{4}$", "A Peppol EAS code: 4 digits, e.g. 9957.")],
    )
    # Where the buyer pays (BG-16/BG-17): credit transfer to this account.
    iban = models.CharField(
        max_length=34,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Z]{2}[0-9]{2}[0-9A-Z]{10,30}$", "An IBAN, without spaces (ISO 13616)."
            )
        ],
    )
    bic = models.CharField(
        max_length=11,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{6}[0-9A-Z]{2}([0-9A-Z]{3})?$", "A BIC (ISO 9362).")],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def document_number_prefix(self) -> str:
        """The prefix of the organization's documents in Lago
        (``Organization#generate_document_number_prefix``: the name's first
        three letters, upcased, and the id's last four characters, e.g.
        ``ACM-1A2B``); an organization numbering with a prefix of its own uses
        that one. Customer slugs and draft numbers start with it."""
        if self.number_prefix:
            return self.number_prefix.upper()
        return f"{self.name[:3].upper()}-{self.id.hex[-4:].upper()}"


def hash_api_key(raw_key: str) -> str:
    # The key carries 256 random bits, so a fast hash is enough: there is no
    # low-entropy secret to protect from brute force, and a slow KDF would add
    # its cost to every API request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.organization})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now
