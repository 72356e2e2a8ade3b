"""Paper size by country."""

from __future__ import annotations

from reportlab.lib.pagesizes import A4, LETTER

PAPER_SIZES = {"A4": A4, "LETTER": LETTER}

# CLDR supplemental data, <paperSize type="US-Letter" territories="...">:
# the territories that print on US Letter; everywhere else uses A4.
LETTER_TERRITORIES = frozenset(
    {"BZ", "CA", "CL", "CO", "CR", "GT", "MX", "NI", "PA", "PH", "PR", "SV", "US", "VE"}
)


def paper_for(country: str, override: str = "") -> str:
    """ "A4" or "LETTER": ``override`` (an organization's setting) when set,
    else what the customer's country prints on."""
    if override in PAPER_SIZES:
        return override
    return "LETTER" if (country or "").upper() in LETTER_TERRITORIES else "A4"
