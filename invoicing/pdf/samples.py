"""Representative invoice snapshots for tests, the benchmark and the docs.

Every sample is deterministic (no clock, no randomness) and internally
consistent: fee amounts, taxes and totals are computed by the service's own
arithmetic (``invoicing.money``, lago-api's rules).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
import zlib
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from invoicing.money import FeeIn, TaxRate, compute_totals
from invoicing.pdf.snapshot import (
    Address,
    AppliedTax,
    Credit,
    FeeLine,
    InvoiceSnapshot,
    MetadataItem,
    Party,
)

CREATED_AT = dt.datetime(2025, 2, 1, 9, 30, tzinfo=dt.UTC)
ISSUING_DATE = dt.date(2025, 2, 1)
PERIOD = (dt.date(2025, 1, 1), dt.date(2025, 1, 31))


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def fee(
    name: str,
    units: str,
    unit_amount_cents: str,
    rate: str = "0",
    description: str = "",
    plan_name: str = "",
    period: tuple[dt.date, dt.date] | None = PERIOD,
) -> FeeLine:
    """A fee whose amount and tax follow from units x unit price and the rate."""
    amount = _round(Decimal(units) * Decimal(unit_amount_cents))
    return FeeLine(
        display_name=name,
        description=description,
        from_date=period[0] if period else None,
        to_date=period[1] if period else None,
        units=Decimal(units),
        unit_amount_cents=Decimal(unit_amount_cents),
        amount_cents=amount,
        taxes_rate=Decimal(rate),
        taxes_amount_cents=_round(amount * Decimal(rate) / 100),
        plan_name=plan_name,
        subscription_id=f"sub_{zlib.crc32(plan_name.encode()):08x}" if plan_name else "",
    )


def build(
    *,
    number: str,
    locale: str,
    currency: str,
    fees: Sequence[FeeLine],
    tax_names: dict[Decimal, tuple[str, str]] | None = None,
    credits: Sequence[Credit] = (),
    organization: Party | None = None,
    customer: Party | None = None,
    status: str = "finalized",
    net_payment_term: int = 30,
    tax_categories: dict[Decimal, tuple[str, str]] | None = None,
    **extra: object,
) -> InvoiceSnapshot:
    """Assemble a snapshot whose totals are computed as the service computes
    them (``invoicing.money``, lago-api's rules): coupons before tax, spread
    over the fees; tax rounded once per rate; credit notes and prepaid
    credits after tax, capped at what remains.

    tax_names maps a rate to (name, code); one AppliedTax per distinct rate.
    tax_categories maps a rate to its (VAT category, exemption reason).
    """
    tax_names = tax_names or {}
    tax_categories = tax_categories or {}

    def tax_of(rate: Decimal) -> TaxRate:
        name, code = tax_names.get(rate, (f"Tax {rate}%", f"tax_{rate}"))
        return TaxRate(code=code, name=name, rate=rate)

    coupons = [c for c in credits if c.kind == "coupon"]
    totals = compute_totals(
        [
            FeeIn(
                units=f.units,
                unit_amount_cents=f.unit_amount_cents,
                taxes=(tax_of(f.taxes_rate),) if f.taxes_rate or f.taxes_rate in tax_categories
                else (),
            )
            for f in fees
        ],
        coupons=[c.amount_cents for c in coupons],
        credit_notes_cents=sum(c.amount_cents for c in credits if c.kind == "credit_note"),
        prepaid_cents=sum(c.amount_cents for c in credits if c.kind == "prepaid"),
    )  # fmt: skip
    fees = tuple(
        dataclasses.replace(
            f, amount_cents=out.amount_cents, taxes_amount_cents=out.taxes_amount_cents
        )
        for f, out in zip(fees, totals.fees, strict=True)
    )
    applied = tuple(
        AppliedTax(
            name=t.tax.name,
            code=t.tax.code,
            rate=t.tax.rate,
            amount_cents=t.amount_cents,
            fees_amount_cents=t.fees_amount_cents,
            vat_category_code=tax_categories.get(t.tax.rate, ("S", ""))[0],
            vat_exemption_reason=tax_categories.get(t.tax.rate, ("S", ""))[1],
        )
        for t in sorted(totals.applied_taxes, key=lambda t: t.tax.rate, reverse=True)
    )
    # What each credit took, after the caps.
    taken = totals.credits_taken([(c.kind, c.amount_cents) for c in credits])
    kept = [
        dataclasses.replace(c, amount_cents=amount)
        for c, amount in zip(credits, taken, strict=True)
        if amount
    ]
    paid = extra.pop("total_paid_amount_cents", 0)
    return InvoiceSnapshot(
        id=extra.pop("id", "5f0c6a2e-3b9d-4c1e-9a7b-2d8e4f6a1b3c"),  # type: ignore[arg-type]
        number=number,
        status=status,
        invoice_type="subscription",
        currency=currency,
        issuing_date=ISSUING_DATE,
        payment_due_date=ISSUING_DATE + dt.timedelta(days=net_payment_term),
        net_payment_term=net_payment_term,
        created_at=CREATED_AT,
        locale=locale,
        organization=organization or ACME,
        customer=customer or GLOBEX,
        fees=fees,
        applied_taxes=applied,
        credits=tuple(kept),
        **totals.invoice_amounts(),
        total_paid_amount_cents=paid,  # type: ignore[arg-type]
        total_due_amount_cents=max(totals.total_amount_cents - paid, 0),  # type: ignore[operator]
        **extra,  # type: ignore[arg-type]
    )


def logo_png(width: int = 120, height: int = 40) -> bytes:
    """A small deterministic PNG (a blue badge with a light bar), no Pillow needed."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type 0 for each scanline
        for x in range(width):
            inside = 2 <= x < width - 2 and 2 <= y < height - 2
            bar = inside and height // 3 <= y < 2 * height // 3 and width // 6 <= x < width // 2
            if bar:
                row += bytes((235, 242, 255, 255))
            elif inside:
                row += bytes((26, 69, 140, 255))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


ACME = Party(
    name="Acme Cloud",
    legal_name="Acme Cloud SAS",
    legal_number="RCS Paris 912 345 678",
    tax_identification_number="FR12912345678",
    email="billing@acme.example",
    phone="+33 1 23 45 67 89",
    address=Address(line1="12 rue de la Paix", city="Paris", zipcode="75002", country="FR"),
)

GLOBEX = Party(
    name="Globex Łódź",
    legal_name="Globex Polska Sp. z o.o.",
    legal_number="KRS 0000123456",
    tax_identification_number="PL5260001246",
    email="accounts@globex.example",
    address=Address(
        line1="ul. Piotrkowska 104",
        line2="Budynek B, piętro 3",
        city="Łódź",
        zipcode="90-926",
        country="PL",
    ),
)

VAT = {Decimal("20"): ("VAT", "vat_20"), Decimal("5.5"): ("VAT", "vat_5_5")}

_SERVICES = (
    ("API calls", "Metered requests to the public API", "12500", "0.85"),
    ("Storage", "GB-month of object storage, standard tier", "730.5", "2.3"),
    ("Seats", "Active users in the billing period", "42", "1500"),
    ("Support plan", "Business support, 24/7 response", "1", "29900"),
    ("Data transfer", "Egress to the internet, per GB", "1875.25", "9"),
    ("Build minutes", "CI minutes on 2-core runners", "9600", "0.8"),
    ("Compute", "vCPU-hours, on-demand", "2210", "4.25"),
)


def sample_snapshot(n_fees: int, locale: str = "en", currency: str = "EUR") -> InvoiceSnapshot:
    """A plain invoice with ``n_fees`` fees (0 to 10,000), deterministic."""
    fees = []
    for i in range(n_fees):
        name, description, units, price = _SERVICES[i % len(_SERVICES)]
        rate = "5.5" if i % 5 == 4 else "20"
        units = str(Decimal(units) + i % 13)
        fees.append(fee(f"{name} #{i + 1}", units, price, rate, description))
    credits = [Credit("coupon", "Welcome coupon", 1500)] if n_fees else []
    return build(
        number=f"ACM-2025-{n_fees:05d}",
        locale=locale,
        currency=currency,
        fees=fees,
        tax_names=VAT,
        credits=credits,
        purchase_order_number="PO-7781",
        invoice_footer=(
            "Acme Cloud SAS, capital 10 000 €. Late payments bear interest at 3x the legal rate."
        ),
    )


def sample_eur_invoice(locale: str = "en") -> InvoiceSnapshot:
    """The everyday case: a few fees, VAT, a coupon, metadata, logo and footer."""
    fees = [
        fee("Startup plan", "1", "4900", "20", "Monthly subscription"),
        fee("API calls", "125000", "0.085", "20", "Per request above the free tier"),
        fee("Storage", "730.5", "2.3", "20", "GB-month, standard tier"),
        fee("Seats", "12", "1500", "20"),
        fee("Printed manual", "2", "1990", "5.5", "Reduced VAT rate", period=None),
    ]
    return build(
        number="ACM-2025-0042",
        locale=locale,
        currency="EUR",
        fees=fees,
        tax_names=VAT,
        credits=[
            Credit("coupon", "Welcome coupon −10 €", 1000),
            Credit("credit_note", "Credit note CN-0007", 2500),
            Credit("prepaid", "Prepaid credits", 1200),
        ],
        purchase_order_number="PO-2025-118",
        logo_png=logo_png(),
        metadata=(
            MetadataItem("Contract", "MSA-2024-17"),
            MetadataItem("Cost center", "R&D – Łódź office"),
        ),
        invoice_footer=(
            "Acme Cloud SAS — SAS au capital de 10 000 € — RCS Paris 912 345 678.\n"
            "Bank transfer: IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP."
        ),
    )


def sample_jpy_invoice() -> InvoiceSnapshot:
    """Japanese invoice in yen (0 decimals), consumption tax at 10 % and 8 %."""
    org = Party(
        name="株式会社サンプルクラウド",
        legal_name="株式会社サンプルクラウド",
        tax_identification_number="T1234567890123",
        email="seikyu@sample.example",
        phone="03-1234-5678",
        address=Address(
            line1="東京都千代田区丸の内1-1-1", city="千代田区", zipcode="100-0005", country="JP"
        ),
    )
    customer = Party(
        name="山田商事株式会社",
        legal_name="山田商事株式会社",
        email="keiri@yamada.example",
        address=Address(line1="大阪府大阪市北区梅田3-1-3", zipcode="530-0001", country="JP"),
    )
    fees = [
        fee("スタンダードプラン", "1", "9800", "10", "月額基本料金"),
        fee("API リクエスト", "150000", "0.12", "10", "無料枠を超えた分"),
        fee("飲料（軽減税率）", "24", "150", "8", "社内用ミネラルウォーター", period=None),
    ]
    return build(
        number="SMP-2025-0007",
        locale="ja",
        currency="JPY",
        fees=fees,
        tax_names={Decimal("10"): ("消費税", "jct_10"), Decimal("8"): ("消費税（軽減）", "jct_8")},
        organization=org,
        customer=customer,
        invoice_footer="お振込手数料はお客様のご負担となります。",
    )


def sample_bhd_invoice() -> InvoiceSnapshot:
    """Bahraini dinar: 3 decimals, VAT 10 %, English."""
    fees = [
        fee("Managed hosting", "3", "125500", "10", "Dedicated node, monthly"),
        fee("Bandwidth", "812.75", "12.5", "10", "Per GB"),
        fee("Setup", "1", "45000", "0", "One-off", period=None),
    ]
    return build(
        number="BH-2025-0031",
        locale="en",
        currency="BHD",
        fees=fees,
        tax_names={Decimal("10"): ("VAT", "vat_10")},
    )


def sample_aed_invoice() -> InvoiceSnapshot:
    """Arabic invoice in dirhams: the currency symbol د.إ. is right-to-left."""
    customer = Party(
        name="شركة الإمارات للتجارة",
        legal_name="شركة الإمارات للتجارة ذ.م.م",
        tax_identification_number="100123456700003",
        email="finance@emirates-trading.example",
        address=Address(line1="شارع الشيخ زايد", city="دبي", country="AE"),
    )
    fees = [
        fee("Cloud hosting", "2", "185000", "5", "Monthly plan"),
        fee("خدمة الدعم", "1", "99900", "5", "دعم فني على مدار الساعة"),
    ]
    return build(
        number="AE-2025-0012",
        locale="ar",
        currency="AED",
        fees=fees,
        tax_names={Decimal("5"): ("ضريبة القيمة المضافة", "vat_5")},
        customer=customer,
    )


def sample_cjk_customer_invoice(locale: str = "ja") -> InvoiceSnapshot:
    """A customer with a CJK name: in ja (yen), zh-TW (TWD), or any other locale."""
    if locale.replace("-", "_") == "zh_TW":
        customer = Party(
            name="臺灣積體測試股份有限公司",
            legal_name="臺灣積體測試股份有限公司",
            tax_identification_number="12345675",
            address=Address(line1="新竹科學園區力行路8號", city="新竹市", country="TW"),
        )
        currency = "TWD"
    else:
        customer = Party(
            name="山田太郎",
            legal_name="株式会社やまだ",
            address=Address(
                line1="東京都港区六本木6-10-1", city="港区", zipcode="106-6108", country="JP"
            ),
        )
        currency = "JPY" if locale == "ja" else "USD"
    fees = [
        fee("Pro plan", "1", "299900" if currency != "JPY" else "29800", "5"),
        fee("Seats", "8", "1200" if currency != "JPY" else "1200", "5"),
    ]
    return build(
        number="CJK-2025-0003",
        locale=locale,
        currency=currency,
        fees=fees,
        tax_names={Decimal("5"): ("VAT", "vat_5")},
        customer=customer,
    )


def sample_voided_invoice(locale: str = "en") -> InvoiceSnapshot:
    snapshot = sample_snapshot(45, locale=locale)
    return build(
        number="ACM-2025-0040",
        locale=locale,
        currency=snapshot.currency,
        fees=snapshot.fees,
        tax_names=VAT,
        status="voided",
        id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    )


def sample_plan_invoice() -> InvoiceSnapshot:
    """Fees of two subscriptions, grouped under their plan, plus a one-off fee."""
    fees = [
        fee("Base fee", "1", "9900", "20", plan_name="Startup plan — monthly"),
        fee(
            "API calls",
            "40000",
            "0.05",
            "20",
            "Above 100k included",
            plan_name="Startup plan — monthly",
        ),
        fee("Onboarding", "1", "50000", "20", "One-off service", period=None),
        fee("Base fee", "1", "49900", "20", plan_name="Enterprise plan — yearly"),
        fee("Seats", "120", "800", "20", plan_name="Enterprise plan — yearly"),
        fee("Storage", "2048", "1.8", "20", plan_name="Startup plan — monthly"),
    ]
    return build(number="ACM-2025-0050", locale="en", currency="EUR", fees=fees, tax_names=VAT)


LONG_WORD = "Supercalifragilistic" * 8  # 160 characters, no break opportunity


def sample_long_names_invoice() -> InvoiceSnapshot:
    """Very long names, descriptions and an unbreakable token: all must wrap."""
    org = Party(
        name=(
            "The Extraordinarily Long-Named International Cloud Infrastructure and "
            "Platform Services Company"
        ),
        legal_name=(
            "The Extraordinarily Long-Named International Cloud Infrastructure and "
            "Platform Services Company Limited Liability Partnership of Europe"
        ),
        legal_number="REG-" + "9" * 60,
        email="a.very.long.mailbox.name.for.accounts.payable@extraordinarily-long-domain-name.example",
        address=Address(
            line1="Building 7, " + "Long Street " * 8, city="Saint-Rémy-de-Provence", country="FR"
        ),
    )
    customer = Party(
        name="Customer " + LONG_WORD,
        legal_name="Société Anonyme des Établissements Généraux de Façonnage et d'Œuvres Réunies",
        tax_identification_number="FR" + "0" * 40,
        address=Address(line1="1 place " + LONG_WORD, city="Lyon", country="FR"),
    )
    fees = [
        fee(
            "Usage-based fee with a name long enough to need three or four lines in its column "
            "of the fee table, which is about two hundred and twenty points wide",
            "1234567.891",
            "0.0037",
            "20",
            "Description: " + ("metered events aggregated per workspace and region; " * 6),
        ),
        fee(LONG_WORD, "1", "1", "20", LONG_WORD),
        fee("Seats", "999999999", "99999", "20"),
    ]
    return build(
        number="LONG-" + "0123456789" * 4,
        locale="en",
        currency="EUR",
        fees=fees,
        tax_names=VAT,
        organization=org,
        customer=customer,
        purchase_order_number="PO-" + "X" * 70,
        metadata=(
            MetadataItem("Internal reference with a long key", "value " * 60),
            MetadataItem("Token", LONG_WORD),
        ),
        invoice_footer=("Terms and conditions apply. " * 40).strip(),
    )


SAMPLES: dict[str, Callable[[], InvoiceSnapshot]] = {
    "eur": sample_eur_invoice,
    "jpy": sample_jpy_invoice,
    "bhd": sample_bhd_invoice,
    "aed": sample_aed_invoice,
    "cjk_ja": lambda: sample_cjk_customer_invoice("ja"),
    "cjk_zh_tw": lambda: sample_cjk_customer_invoice("zh-TW"),
    "cjk_en": lambda: sample_cjk_customer_invoice("en"),
    "voided": sample_voided_invoice,
    "plans": sample_plan_invoice,
    "long_names": sample_long_names_invoice,
    "empty": lambda: sample_snapshot(0),
    "one_fee": lambda: sample_snapshot(1),
    "long_500": lambda: sample_snapshot(500),
}
