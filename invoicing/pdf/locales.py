"""Translated labels and Babel formatting for the invoice PDF.

The labels live here as plain dicts (one per supported language) rather than
in gettext catalogs: the renderer must stay importable without Django, and the
set of strings is small and closed. Every locale defines every key; a test
enforces it.

Formatting rules (``docs/snapshot.md`` repeats them, tests rebuild them with
Babel directly):

* amounts: ``format_currency(minor / 10**precision, currency)`` where the
  precision is ``babel.numbers.get_currency_precision`` (JPY 0, BHD 3);
* unit prices: the same, normalized, with ``decimal_quantization=False`` so a
  sub-cent unit price keeps its digits;
* units: ``format_decimal(units.normalize(), decimal_quantization=False)``;
* rates: ``format_percent((rate / 100).normalize(), decimal_quantization=False)``;
* dates: ``format_date(d, "long")``; service periods:
  ``format_interval(from, to, skeleton="yMMMd")``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
)

DEFAULT_LOCALE = "en"

# Label keys, in the order the layout uses them.
LABEL_KEYS = (
    "invoice",
    "invoice_number",
    "purchase_order",
    "issue_date",
    "due_date",
    "payment_term",
    "from",
    "bill_to",
    "legal_number",
    "tax_id",
    "amount_due",
    "description",
    "units",
    "unit_price",
    "tax_rate",
    "amount",
    "subtotal_excl",
    "tax_line",
    "taxes",
    "subtotal_incl",
    "coupons",
    "credit_notes",
    "prepaid_credits",
    "total_due",
    "page",
    "void",
    "fees_total",
    "total_taxes",
    "total",
    "amount_paid",
    "supply_date",
    "vat_id",
    "jct_registration",
    "vat_note_AE",
    "vat_note_K",
    "vat_note_G",
    "vat_note_E",
    "vat_note_O",
    "draft",
    "void_notice",
)

# Plural forms are keyed by the CLDR category Babel's ``Locale.plural_form``
# returns; "other" is always present and is the fallback.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "invoice_number": "Invoice number",
        "purchase_order": "Purchase order",
        "issue_date": "Issue date",
        "due_date": "Payment due date",
        "payment_term": "Payment term",
        "from": "From",
        "bill_to": "Bill to",
        "legal_number": "Registration number",
        "tax_id": "Tax ID",
        "amount_due": "Amount due",
        "description": "Description",
        "units": "Units",
        "unit_price": "Unit price",
        "tax_rate": "Tax rate",
        "amount": "Amount",
        "subtotal_excl": "Sub total (excl. tax)",
        "tax_line": "{name} ({rate} on {base})",
        "taxes": "Taxes",
        "subtotal_incl": "Sub total (incl. tax)",
        "coupons": "Coupons",
        "credit_notes": "Credit notes",
        "prepaid_credits": "Prepaid credits",
        "total_due": "Total due",
        "page": "Page {page} of {pages}",
        "void": "VOID",
        "fees_total": "Total fees",
        "total_taxes": "Total tax",
        "total": "Total",
        "amount_paid": "Amount paid",
        "supply_date": "Date of supply",
        "vat_id": "VAT number",
        "jct_registration": "JCT registration number",
        "vat_note_AE": "Reverse charge: VAT to be accounted for by the recipient, Art. 196 Directive 2006/112/EC",
        "vat_note_K": "Exempt intra-Community supply, Art. 138 Directive 2006/112/EC",
        "vat_note_G": "Exempt export, Art. 146 Directive 2006/112/EC",
        "vat_note_E": "VAT exempt",
        "vat_note_O": "Not subject to VAT",
        "draft": "DRAFT",
        "void_notice": "This invoice has been voided. Nothing is due.",
    },
    "fr": {
        "invoice": "Facture",
        "invoice_number": "Numéro de facture",
        "purchase_order": "Bon de commande",
        "issue_date": "Date d'émission",
        "due_date": "Date d'échéance",
        "payment_term": "Délai de paiement",
        "from": "Émetteur",
        "bill_to": "Facturé à",
        "legal_number": "N° d'immatriculation",
        "tax_id": "Identifiant fiscal",
        "amount_due": "Montant dû",
        "description": "Description",
        "units": "Quantité",
        "unit_price": "Prix unitaire",
        "tax_rate": "Taux de taxe",
        "amount": "Montant",
        "subtotal_excl": "Sous-total HT",
        "tax_line": "{name} ({rate} sur {base})",
        "taxes": "Taxes",
        "subtotal_incl": "Sous-total TTC",
        "coupons": "Coupons",
        "credit_notes": "Avoirs",
        "prepaid_credits": "Crédits prépayés",
        "total_due": "Total à payer",
        "page": "Page {page} sur {pages}",
        "void": "ANNULÉE",
        "fees_total": "Total des lignes",
        "total_taxes": "Total des taxes",
        "total": "Total",
        "amount_paid": "Montant payé",
        "supply_date": "Date de prestation",
        "vat_id": "N° de TVA",
        "jct_registration": "N° d'enregistrement JCT",
        "vat_note_AE": "Autoliquidation : TVA due par le preneur, art. 196 de la directive 2006/112/CE",
        "vat_note_K": "Exonération de TVA, livraison intracommunautaire, art. 138 de la directive 2006/112/CE",
        "vat_note_G": "Exonération de TVA, exportation, art. 146 de la directive 2006/112/CE",
        "vat_note_E": "Exonéré de TVA",
        "vat_note_O": "Hors champ d'application de la TVA",
        "draft": "BROUILLON",
        "void_notice": "Cette facture a été annulée. Aucun montant n'est dû.",
    },
    "de": {
        "invoice": "Rechnung",
        "invoice_number": "Rechnungsnummer",
        "purchase_order": "Bestellnummer",
        "issue_date": "Rechnungsdatum",
        "due_date": "Fälligkeitsdatum",
        "payment_term": "Zahlungsziel",
        "from": "Von",
        "bill_to": "Rechnung an",
        "legal_number": "Registernummer",
        "tax_id": "Steuernummer",
        "amount_due": "Fälliger Betrag",
        "description": "Beschreibung",
        "units": "Menge",
        "unit_price": "Einzelpreis",
        "tax_rate": "Steuersatz",
        "amount": "Betrag",
        "subtotal_excl": "Zwischensumme (netto)",
        "tax_line": "{name} ({rate} auf {base})",
        "taxes": "Steuern",
        "subtotal_incl": "Zwischensumme (brutto)",
        "coupons": "Gutscheine",
        "credit_notes": "Gutschriften",
        "prepaid_credits": "Vorausbezahltes Guthaben",
        "total_due": "Zu zahlender Betrag",
        "page": "Seite {page} von {pages}",
        "void": "STORNIERT",
        "fees_total": "Summe der Positionen",
        "total_taxes": "Steuern gesamt",
        "total": "Gesamtbetrag",
        "amount_paid": "Bezahlt",
        "supply_date": "Leistungsdatum",
        "vat_id": "USt-IdNr.",
        "jct_registration": "JCT-Registrierungsnummer",
        "vat_note_AE": "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge), Art. 196 Richtlinie 2006/112/EG",
        "vat_note_K": "Steuerfreie innergemeinschaftliche Lieferung, Art. 138 Richtlinie 2006/112/EG",
        "vat_note_G": "Steuerfreie Ausfuhrlieferung, Art. 146 Richtlinie 2006/112/EG",
        "vat_note_E": "Steuerbefreit",
        "vat_note_O": "Nicht steuerbar",
        "draft": "ENTWURF",
        "void_notice": "Diese Rechnung wurde storniert. Es ist kein Betrag fällig.",
    },
    "es": {
        "invoice": "Factura",
        "invoice_number": "Número de factura",
        "purchase_order": "Orden de compra",
        "issue_date": "Fecha de emisión",
        "due_date": "Fecha de vencimiento",
        "payment_term": "Plazo de pago",
        "from": "De",
        "bill_to": "Facturar a",
        "legal_number": "Número de registro",
        "tax_id": "Identificación fiscal",
        "amount_due": "Importe adeudado",
        "description": "Descripción",
        "units": "Cantidad",
        "unit_price": "Precio unitario",
        "tax_rate": "Tipo impositivo",
        "amount": "Importe",
        "subtotal_excl": "Subtotal (sin impuestos)",
        "tax_line": "{name} ({rate} sobre {base})",
        "taxes": "Impuestos",
        "subtotal_incl": "Subtotal (con impuestos)",
        "coupons": "Cupones",
        "credit_notes": "Notas de crédito",
        "prepaid_credits": "Créditos prepagados",
        "total_due": "Total a pagar",
        "page": "Página {page} de {pages}",
        "void": "ANULADA",
        "fees_total": "Total de conceptos",
        "total_taxes": "Total impuestos",
        "total": "Total",
        "amount_paid": "Importe pagado",
        "supply_date": "Fecha de prestación",
        "vat_id": "NIF-IVA",
        "jct_registration": "N.º de registro JCT",
        "vat_note_AE": "Inversión del sujeto pasivo: IVA a cargo del destinatario, art. 196 Directiva 2006/112/CE",
        "vat_note_K": "Entrega intracomunitaria exenta, art. 138 Directiva 2006/112/CE",
        "vat_note_G": "Exportación exenta, art. 146 Directiva 2006/112/CE",
        "vat_note_E": "Exento de IVA",
        "vat_note_O": "No sujeto a IVA",
        "draft": "BORRADOR",
        "void_notice": "Esta factura ha sido anulada. No hay importe pendiente.",
    },
    "it": {
        "invoice": "Fattura",
        "invoice_number": "Numero fattura",
        "purchase_order": "Ordine d'acquisto",
        "issue_date": "Data di emissione",
        "due_date": "Data di scadenza",
        "payment_term": "Termini di pagamento",
        "from": "Da",
        "bill_to": "Intestata a",
        "legal_number": "Numero di registrazione",
        "tax_id": "Codice fiscale",
        "amount_due": "Importo dovuto",
        "description": "Descrizione",
        "units": "Quantità",
        "unit_price": "Prezzo unitario",
        "tax_rate": "Aliquota",
        "amount": "Importo",
        "subtotal_excl": "Subtotale (imposte escluse)",
        "tax_line": "{name} ({rate} su {base})",
        "taxes": "Imposte",
        "subtotal_incl": "Subtotale (imposte incluse)",
        "coupons": "Coupon",
        "credit_notes": "Note di credito",
        "prepaid_credits": "Crediti prepagati",
        "total_due": "Totale dovuto",
        "page": "Pagina {page} di {pages}",
        "void": "ANNULLATA",
        "fees_total": "Totale voci",
        "total_taxes": "Totale imposte",
        "total": "Totale",
        "amount_paid": "Importo pagato",
        "supply_date": "Data dell'operazione",
        "vat_id": "Partita IVA",
        "jct_registration": "N. di registrazione JCT",
        "vat_note_AE": "Inversione contabile: IVA a carico del destinatario, art. 196 Direttiva 2006/112/CE",
        "vat_note_K": "Cessione intracomunitaria non imponibile, art. 138 Direttiva 2006/112/CE",
        "vat_note_G": "Esportazione non imponibile, art. 146 Direttiva 2006/112/CE",
        "vat_note_E": "Esente IVA",
        "vat_note_O": "Fuori campo IVA",
        "draft": "BOZZA",
        "void_notice": "Questa fattura è stata annullata. Nessun importo è dovuto.",
    },
    "nl": {
        "invoice": "Factuur",
        "invoice_number": "Factuurnummer",
        "purchase_order": "Inkooporder",
        "issue_date": "Factuurdatum",
        "due_date": "Vervaldatum",
        "payment_term": "Betalingstermijn",
        "from": "Van",
        "bill_to": "Factuur aan",
        "legal_number": "Registratienummer",
        "tax_id": "Fiscaal nummer",
        "amount_due": "Te betalen bedrag",
        "description": "Omschrijving",
        "units": "Aantal",
        "unit_price": "Prijs per eenheid",
        "tax_rate": "Belastingtarief",
        "amount": "Bedrag",
        "subtotal_excl": "Subtotaal (excl. belasting)",
        "tax_line": "{name} ({rate} over {base})",
        "taxes": "Belastingen",
        "subtotal_incl": "Subtotaal (incl. belasting)",
        "coupons": "Kortingsbonnen",
        "credit_notes": "Creditnota's",
        "prepaid_credits": "Vooruitbetaald tegoed",
        "total_due": "Totaal te betalen",
        "page": "Pagina {page} van {pages}",
        "void": "GEANNULEERD",
        "fees_total": "Totaal regels",
        "total_taxes": "Totaal belasting",
        "total": "Totaal",
        "amount_paid": "Betaald",
        "supply_date": "Leveringsdatum",
        "vat_id": "Btw-nummer",
        "jct_registration": "JCT-registratienummer",
        "vat_note_AE": "Btw verlegd: btw verschuldigd door de afnemer, art. 196 Richtlijn 2006/112/EG",
        "vat_note_K": "Vrijgestelde intracommunautaire levering, art. 138 Richtlijn 2006/112/EG",
        "vat_note_G": "Vrijgestelde uitvoer, art. 146 Richtlijn 2006/112/EG",
        "vat_note_E": "Vrijgesteld van btw",
        "vat_note_O": "Buiten de werkingssfeer van de btw",
        "draft": "CONCEPT",
        "void_notice": "Deze factuur is geannuleerd. Er is niets verschuldigd.",
    },
    "nb": {
        "invoice": "Faktura",
        "invoice_number": "Fakturanummer",
        "purchase_order": "Innkjøpsordre",
        "issue_date": "Fakturadato",
        "due_date": "Forfallsdato",
        "payment_term": "Betalingsfrist",
        "from": "Fra",
        "bill_to": "Faktureres til",
        "legal_number": "Organisasjonsnummer",
        "tax_id": "Skatte-ID",
        "amount_due": "Beløp å betale",
        "description": "Beskrivelse",
        "units": "Antall",
        "unit_price": "Enhetspris",
        "tax_rate": "Avgiftssats",
        "amount": "Beløp",
        "subtotal_excl": "Delsum (ekskl. avgifter)",
        "tax_line": "{name} ({rate} av {base})",
        "taxes": "Avgifter",
        "subtotal_incl": "Delsum (inkl. avgifter)",
        "coupons": "Rabattkuponger",
        "credit_notes": "Kreditnotaer",
        "prepaid_credits": "Forhåndsbetalt kreditt",
        "total_due": "Totalt å betale",
        "page": "Side {page} av {pages}",
        "void": "ANNULLERT",
        "fees_total": "Sum linjer",
        "total_taxes": "Sum avgifter",
        "total": "Totalt",
        "amount_paid": "Betalt",
        "supply_date": "Leveringsdato",
        "vat_id": "MVA-nummer",
        "jct_registration": "JCT-registreringsnummer",
        "vat_note_AE": "Omvendt avgiftsplikt: mva beregnes av mottakeren, art. 196 direktiv 2006/112/EF",
        "vat_note_K": "Fritatt leveranse innen EU, art. 138 direktiv 2006/112/EF",
        "vat_note_G": "Fritatt eksport, art. 146 direktiv 2006/112/EF",
        "vat_note_E": "Fritatt for mva",
        "vat_note_O": "Utenfor mva-området",
        "draft": "UTKAST",
        "void_notice": "Denne fakturaen er annullert. Ingenting skal betales.",
    },
    "sv": {
        "invoice": "Faktura",
        "invoice_number": "Fakturanummer",
        "purchase_order": "Inköpsorder",
        "issue_date": "Fakturadatum",
        "due_date": "Förfallodatum",
        "payment_term": "Betalningsvillkor",
        "from": "Från",
        "bill_to": "Faktureras till",
        "legal_number": "Organisationsnummer",
        "tax_id": "Skatte-ID",
        "amount_due": "Att betala",
        "description": "Beskrivning",
        "units": "Antal",
        "unit_price": "À-pris",
        "tax_rate": "Skattesats",
        "amount": "Belopp",
        "subtotal_excl": "Delsumma (exkl. skatt)",
        "tax_line": "{name} ({rate} på {base})",
        "taxes": "Skatter",
        "subtotal_incl": "Delsumma (inkl. skatt)",
        "coupons": "Rabattkuponger",
        "credit_notes": "Kreditnotor",
        "prepaid_credits": "Förbetald kredit",
        "total_due": "Totalt att betala",
        "page": "Sida {page} av {pages}",
        "void": "MAKULERAD",
        "fees_total": "Summa rader",
        "total_taxes": "Summa skatt",
        "total": "Totalt",
        "amount_paid": "Betalt",
        "supply_date": "Leveransdatum",
        "vat_id": "Momsreg.nr",
        "jct_registration": "JCT-registreringsnummer",
        "vat_note_AE": "Omvänd betalningsskyldighet: mervärdesskatt redovisas av köparen, art. 196 direktiv 2006/112/EG",
        "vat_note_K": "Undantagen gemenskapsintern leverans, art. 138 direktiv 2006/112/EG",
        "vat_note_G": "Undantagen export, art. 146 direktiv 2006/112/EG",
        "vat_note_E": "Undantaget från moms",
        "vat_note_O": "Utanför momsens tillämpningsområde",
        "draft": "UTKAST",
        "void_notice": "Denna faktura har makulerats. Inget belopp ska betalas.",
    },
    "pt_BR": {
        "invoice": "Fatura",
        "invoice_number": "Número da fatura",
        "purchase_order": "Ordem de compra",
        "issue_date": "Data de emissão",
        "due_date": "Data de vencimento",
        "payment_term": "Prazo de pagamento",
        "from": "De",
        "bill_to": "Faturar para",
        "legal_number": "Número de registro",
        "tax_id": "Identificação fiscal",
        "amount_due": "Valor devido",
        "description": "Descrição",
        "units": "Quantidade",
        "unit_price": "Preço unitário",
        "tax_rate": "Alíquota",
        "amount": "Valor",
        "subtotal_excl": "Subtotal (sem impostos)",
        "tax_line": "{name} ({rate} sobre {base})",
        "taxes": "Impostos",
        "subtotal_incl": "Subtotal (com impostos)",
        "coupons": "Cupons",
        "credit_notes": "Notas de crédito",
        "prepaid_credits": "Créditos pré-pagos",
        "total_due": "Total a pagar",
        "page": "Página {page} de {pages}",
        "void": "CANCELADA",
        "fees_total": "Total dos itens",
        "total_taxes": "Total de impostos",
        "total": "Total",
        "amount_paid": "Valor pago",
        "supply_date": "Data da prestação",
        "vat_id": "Nº de IVA",
        "jct_registration": "Nº de registro JCT",
        "vat_note_AE": "Autoliquidação: IVA devido pelo adquirente, art. 196.º da Diretiva 2006/112/CE",
        "vat_note_K": "Fornecimento intracomunitário isento, art. 138.º da Diretiva 2006/112/CE",
        "vat_note_G": "Exportação isenta, art. 146.º da Diretiva 2006/112/CE",
        "vat_note_E": "Isento de IVA",
        "vat_note_O": "Não sujeito a IVA",
        "draft": "RASCUNHO",
        "void_notice": "Esta fatura foi cancelada. Nenhum valor é devido.",
    },
    "pl": {
        "invoice": "Faktura",
        "invoice_number": "Numer faktury",
        "purchase_order": "Zamówienie",
        "issue_date": "Data wystawienia",
        "due_date": "Termin płatności",
        "payment_term": "Warunki płatności",
        "from": "Sprzedawca",
        "bill_to": "Nabywca",
        "legal_number": "Numer rejestrowy",
        "tax_id": "NIP",
        "amount_due": "Kwota do zapłaty",
        "description": "Opis",
        "units": "Ilość",
        "unit_price": "Cena jednostkowa",
        "tax_rate": "Stawka podatku",
        "amount": "Kwota",
        "subtotal_excl": "Suma netto",
        "tax_line": "{name} ({rate} od {base})",
        "taxes": "Podatki",
        "subtotal_incl": "Suma brutto",
        "coupons": "Kupony",
        "credit_notes": "Faktury korygujące",
        "prepaid_credits": "Środki przedpłacone",
        "total_due": "Do zapłaty",
        "page": "Strona {page} z {pages}",
        "void": "ANULOWANA",
        "fees_total": "Suma pozycji",
        "total_taxes": "Razem podatek",
        "total": "Razem",
        "amount_paid": "Zapłacono",
        "supply_date": "Data sprzedaży",
        "vat_id": "Nr VAT UE",
        "jct_registration": "Nr rejestracyjny JCT",
        "vat_note_AE": "Odwrotne obciążenie: VAT rozlicza nabywca, art. 196 dyrektywy 2006/112/WE",
        "vat_note_K": "Wewnątrzwspólnotowa dostawa towarów zwolniona, art. 138 dyrektywy 2006/112/WE",
        "vat_note_G": "Eksport zwolniony, art. 146 dyrektywy 2006/112/WE",
        "vat_note_E": "Zwolnione z VAT",
        "vat_note_O": "Nie podlega VAT",
        "draft": "SZKIC",
        "void_notice": "Ta faktura została anulowana. Nie ma kwoty do zapłaty.",
    },
    "ja": {
        "invoice": "請求書",
        "invoice_number": "請求書番号",
        "purchase_order": "発注番号",
        "issue_date": "発行日",
        "due_date": "支払期日",
        "payment_term": "支払条件",
        "from": "請求元",
        "bill_to": "請求先",
        "legal_number": "法人番号",
        "tax_id": "税務登録番号",
        "amount_due": "ご請求金額",
        "description": "内容",
        "units": "数量",
        "unit_price": "単価",
        "tax_rate": "税率",
        "amount": "金額",
        "subtotal_excl": "小計（税抜）",
        "tax_line": "{name}（{rate}、対象額 {base}）",
        "taxes": "税額",
        "subtotal_incl": "小計（税込）",
        "coupons": "クーポン",
        "credit_notes": "クレジットノート",
        "prepaid_credits": "前払いクレジット",
        "total_due": "お支払い合計",
        "page": "{page} / {pages} ページ",
        "void": "無効",
        "fees_total": "明細合計",
        "total_taxes": "税額合計",
        "total": "合計",
        "amount_paid": "支払済額",
        "supply_date": "取引年月日",
        "vat_id": "VAT番号",
        "jct_registration": "登録番号",
        "vat_note_AE": "リバースチャージ：VATは受領者が申告・納付（指令2006/112/EC第196条）",
        "vat_note_K": "EU域内取引のため免税（指令2006/112/EC第138条）",
        "vat_note_G": "輸出免税（指令2006/112/EC第146条）",
        "vat_note_E": "非課税",
        "vat_note_O": "不課税",
        "draft": "下書き",
        "void_notice": "この請求書は無効になりました。お支払いは不要です。",
    },
    "zh_TW": {
        "invoice": "發票",
        "invoice_number": "發票號碼",
        "purchase_order": "採購單號碼",
        "issue_date": "開立日期",
        "due_date": "付款截止日",
        "payment_term": "付款條件",
        "from": "賣方",
        "bill_to": "買方",
        "legal_number": "登記編號",
        "tax_id": "稅籍編號",
        "amount_due": "應付金額",
        "description": "項目",
        "units": "數量",
        "unit_price": "單價",
        "tax_rate": "稅率",
        "amount": "金額",
        "subtotal_excl": "小計（未稅）",
        "tax_line": "{name}（{rate}，稅基 {base}）",
        "taxes": "稅額",
        "subtotal_incl": "小計（含稅）",
        "coupons": "優惠券",
        "credit_notes": "折讓單",
        "prepaid_credits": "預付額度",
        "total_due": "應付總額",
        "page": "第 {page} 頁，共 {pages} 頁",
        "void": "作廢",
        "fees_total": "項目合計",
        "total_taxes": "稅額合計",
        "total": "總計",
        "amount_paid": "已付金額",
        "supply_date": "交易日期",
        "vat_id": "增值稅號",
        "jct_registration": "JCT 登錄號碼",
        "vat_note_AE": "逆向課稅：增值稅由買受人申報繳納（指令2006/112/EC第196條）",
        "vat_note_K": "歐盟境內交易免稅（指令2006/112/EC第138條）",
        "vat_note_G": "出口免稅（指令2006/112/EC第146條）",
        "vat_note_E": "免稅",
        "vat_note_O": "非課稅範圍",
        "draft": "草稿",
        "void_notice": "此發票已作廢，無須付款。",
    },
    "zh_CN": {
        "invoice": "发票",
        "invoice_number": "发票号码",
        "purchase_order": "采购订单号",
        "issue_date": "开具日期",
        "due_date": "付款截止日期",
        "payment_term": "付款条件",
        "from": "销售方",
        "bill_to": "购买方",
        "legal_number": "注册号",
        "tax_id": "纳税人识别号",
        "amount_due": "应付金额",
        "description": "项目",
        "units": "数量",
        "unit_price": "单价",
        "tax_rate": "税率",
        "amount": "金额",
        "subtotal_excl": "小计（不含税）",
        "tax_line": "{name}（{rate}，计税基础 {base}）",
        "taxes": "税额",
        "subtotal_incl": "小计（含税）",
        "coupons": "优惠券",
        "credit_notes": "红字发票",
        "prepaid_credits": "预付额度",
        "total_due": "应付总额",
        "page": "第 {page} 页，共 {pages} 页",
        "void": "作废",
        "fees_total": "项目合计",
        "total_taxes": "税额合计",
        "total": "总计",
        "amount_paid": "已付金额",
        "supply_date": "交易日期",
        "vat_id": "增值税号",
        "jct_registration": "JCT 登记号码",
        "vat_note_AE": "反向征税：增值税由购买方申报缴纳（指令2006/112/EC第196条）",
        "vat_note_K": "欧盟境内交易免税（指令2006/112/EC第138条）",
        "vat_note_G": "出口免税（指令2006/112/EC第146条）",
        "vat_note_E": "免税",
        "vat_note_O": "不征税",
        "draft": "草稿",
        "void_notice": "此发票已作废，无需付款。",
    },
    "ar": {
        "invoice": "فاتورة",
        "invoice_number": "رقم الفاتورة",
        "purchase_order": "أمر الشراء",
        "issue_date": "تاريخ الإصدار",
        "due_date": "تاريخ الاستحقاق",
        "payment_term": "مدة السداد",
        "from": "من",
        "bill_to": "فاتورة إلى",
        "legal_number": "رقم السجل التجاري",
        "tax_id": "الرقم الضريبي",
        "amount_due": "المبلغ المستحق",
        "description": "الوصف",
        "units": "الكمية",
        "unit_price": "سعر الوحدة",
        "tax_rate": "نسبة الضريبة",
        "amount": "المبلغ",
        "subtotal_excl": "المجموع الفرعي (غير شامل الضريبة)",
        "tax_line": "{name} ({rate} على {base})",
        "taxes": "الضرائب",
        "subtotal_incl": "المجموع الفرعي (شامل الضريبة)",
        "coupons": "القسائم",
        "credit_notes": "إشعارات دائنة",
        "prepaid_credits": "الرصيد المدفوع مسبقًا",
        "total_due": "الإجمالي المستحق",
        "page": "صفحة {page} من {pages}",
        "void": "ملغاة",
        "fees_total": "إجمالي البنود",
        "total_taxes": "إجمالي الضريبة",
        "total": "الإجمالي",
        "amount_paid": "المبلغ المدفوع",
        "supply_date": "تاريخ التوريد",
        "vat_id": "رقم ضريبة القيمة المضافة",
        "jct_registration": "رقم التسجيل في ضريبة الاستهلاك اليابانية",
        "vat_note_AE": "آلية الاحتساب العكسي: يحتسب المتلقي ضريبة القيمة المضافة، المادة 196 من التوجيه 2006/112/EC",
        "vat_note_K": "توريد معفى داخل الاتحاد الأوروبي، المادة 138 من التوجيه 2006/112/EC",
        "vat_note_G": "تصدير معفى، المادة 146 من التوجيه 2006/112/EC",
        "vat_note_E": "معفى من ضريبة القيمة المضافة",
        "vat_note_O": "خارج نطاق ضريبة القيمة المضافة",
        "draft": "مسودة",
        "void_notice": "تم إلغاء هذه الفاتورة. لا يوجد مبلغ مستحق.",
    },
}

# "{n} days" for the net payment term, by CLDR plural category.
DAYS: dict[str, dict[str, str]] = {
    "en": {"one": "{n} day", "other": "{n} days"},
    "fr": {"one": "{n} jour", "other": "{n} jours"},
    "de": {"one": "{n} Tag", "other": "{n} Tage"},
    "es": {"one": "{n} día", "other": "{n} días"},
    "it": {"one": "{n} giorno", "other": "{n} giorni"},
    "nl": {"one": "{n} dag", "other": "{n} dagen"},
    "nb": {"one": "{n} dag", "other": "{n} dager"},
    "sv": {"one": "{n} dag", "other": "{n} dagar"},
    "pt_BR": {"one": "{n} dia", "other": "{n} dias"},
    "pl": {"one": "{n} dzień", "few": "{n} dni", "many": "{n} dni", "other": "{n} dnia"},
    "ja": {"other": "{n}日"},
    "zh_TW": {"other": "{n} 天"},
    "zh_CN": {"other": "{n} 天"},
    "ar": {
        "zero": "{n} يوم",
        "one": "يوم واحد",
        "two": "يومان",
        "few": "{n} أيام",
        "many": "{n} يومًا",
        "other": "{n} يوم",
    },
}

SUPPORTED_LOCALES = tuple(LABELS)

# Bare language codes that map to a regional label set we carry.
_LANGUAGE_DEFAULTS = {"pt": "pt_BR", "zh": "zh_TW"}


def resolve_locale(locale: str | None) -> tuple[str, Locale]:
    """Return ``(label_key, babel_locale)`` for a snapshot locale.

    Accepts ``pt-BR`` and ``pt_BR`` alike. The labels come from the closest
    supported language; numbers and dates use the most specific locale Babel
    knows (``de-CH`` gets German labels and Swiss number formatting). Anything
    unknown falls back to English.
    """
    raw = (locale or "").strip().replace("-", "_")
    try:
        babel_locale = Locale.parse(raw) if raw else None
    except (UnknownLocaleError, ValueError):
        babel_locale = None
    if babel_locale is None:
        return DEFAULT_LOCALE, Locale.parse(DEFAULT_LOCALE)
    language = babel_locale.language
    candidates = [str(babel_locale), f"{language}_{babel_locale.territory or ''}"]
    if language == "zh":
        # Script decides between our two Chinese label sets.
        simplified = babel_locale.script == "Hans" or babel_locale.territory in ("CN", "SG")
        candidates.append("zh_CN" if simplified else "zh_TW")
    candidates += [language, _LANGUAGE_DEFAULTS.get(language, "")]
    for key in candidates:
        if key in LABELS:
            return key, babel_locale
    return DEFAULT_LOCALE, Locale.parse(DEFAULT_LOCALE)


# Formatted values by (locale, currency, kind); each table is emptied when it
# reaches _TABLE_SIZE entries, which bounds the memory a long-lived worker
# spends on them (~100 bytes an entry).
_TABLES: dict[tuple[str, str, str], dict] = {}
_TABLE_SIZE = 20_000


def _table(locale: str, currency: str, kind: str) -> dict:
    table = _TABLES.setdefault((locale, currency, kind), {})
    if len(table) >= _TABLE_SIZE:
        table.clear()
    return table


class Formatter:
    """Locale- and currency-bound formatting, memoized by value for the
    whole process (see ``_table``)."""

    def __init__(self, label_key: str, locale: Locale, currency: str) -> None:
        self.key = label_key
        self.locale = locale
        self.currency = currency
        self.precision = get_currency_precision(currency)
        self.labels = LABELS[label_key]
        # Shared by every render of this process in the same locale and
        # currency: a worker formats the same few hundred amounts, rates and
        # dates all day, and Babel costs ~50 us a call (about 1 ms a page).
        name = str(locale)
        self._money: dict[int, str] = _table(name, currency, "money")
        self._price: dict[Decimal, str] = _table(name, currency, "price")
        self._units: dict[Decimal, str] = _table(name, "", "units")
        self._percent: dict[Decimal, str] = _table(name, "", "percent")
        self._dates: dict[dt.date, str] = _table(name, "", "dates")
        self._periods: dict[tuple[dt.date | None, dt.date | None], str] = _table(
            name, "", "periods"
        )

    def label(self, key: str) -> str:
        return self.labels[key]

    def money(self, minor: int) -> str:
        text = self._money.get(minor)
        if text is None:
            major = Decimal(minor).scaleb(-self.precision)
            text = format_currency(major, self.currency, locale=self.locale)
            self._money[minor] = text
        return text

    def unit_price(self, minor: Decimal) -> str:
        text = self._price.get(minor)
        if text is None:
            major = minor.scaleb(-self.precision).normalize()
            text = format_currency(
                major, self.currency, locale=self.locale, decimal_quantization=False
            )
            self._price[minor] = text
        return text

    def units(self, units: Decimal) -> str:
        text = self._units.get(units)
        if text is None:
            text = format_decimal(units.normalize(), locale=self.locale, decimal_quantization=False)
            self._units[units] = text
        return text

    def percent(self, rate: Decimal) -> str:
        text = self._percent.get(rate)
        if text is None:
            text = format_percent(
                (rate / 100).normalize(), locale=self.locale, decimal_quantization=False
            )
            self._percent[rate] = text
        return text

    def date(self, value: dt.date) -> str:
        text = self._dates.get(value)
        if text is None:
            text = format_date(value, "long", locale=self.locale)
            self._dates[value] = text
        return text

    def period(self, start: dt.date | None, end: dt.date | None) -> str:
        key = (start, end)
        text = self._periods.get(key)
        if text is None:
            if start and end:
                text = format_interval(start, end, skeleton="yMMMd", locale=self.locale)
            elif start or end:
                text = format_date(start or end, "medium", locale=self.locale)
            else:
                text = ""
            self._periods[key] = text
        return text

    def days(self, count: int) -> str:
        forms = DAYS[self.key]
        category = Locale.parse(self.key).plural_form(count)
        return forms.get(category, forms["other"]).format(n=count)

    def country(self, code: str) -> str:
        if not code:
            return ""
        return self.locale.territories.get(code.upper(), code)

    def page(self, page: int, pages: int) -> str:
        return self.labels["page"].format(page=page, pages=pages)

    def tax_line(self, name: str, rate: Decimal, base_minor: int) -> str:
        return self.labels["tax_line"].format(
            name=name, rate=self.percent(rate), base=self.money(base_minor)
        )
