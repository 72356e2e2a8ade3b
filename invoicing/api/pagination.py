"""Lago's page numbers: lago-api pages with Kaminari (1.2.2, no configuration)
and writes ``meta`` with its ``Pagination`` concern."""

from __future__ import annotations

import math
import re

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter

# lago-api's ``Pagination::PER_PAGE``: asked when ``per_page`` is not sent.
DEFAULT_PER_PAGE = 100
# Kaminari's own default, kept when ``per_page`` is sent but is not a count
# (``Kaminari::PageScopeMethods#per`` ignores a value that does not start
# with a digit, or is negative).
KAMINARI_PER_PAGE = 25
# Beyond Lago: Kaminari's ``max_per_page``, which lago-api leaves unset (any
# size is served). A bigger page is clamped to this many rows, as Kaminari
# clamps, and ``meta`` counts pages of this size, so following ``next_page``
# still reaches every row.
MAX_PER_PAGE = 1000

PAGE_PARAMETERS = [
    OpenApiParameter(
        "page",
        int,
        description="Page number, from 1 (a lower or unreadable value is the first page).",
    ),
    OpenApiParameter(
        "per_page",
        int,
        description=(
            f"Rows per page: {DEFAULT_PER_PAGE} if not sent, {KAMINARI_PER_PAGE} if not a "
            f"count, at most {MAX_PER_PAGE}."
        ),
    ),
]

_RUBY_INTEGER = re.compile(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)")


def ruby_to_i(value: str | None) -> int:
    """Ruby's ``String#to_i``: the integer the text starts with, else 0
    (``"2abc"`` is 2, ``"abc"`` is 0)."""
    match = _RUBY_INTEGER.match(value or "")
    return int(match.group(1).replace("_", "")) if match else 0


def page_params(query_params) -> tuple[int, int]:
    """``(page, per_page)`` from a request's query, as Kaminari reads them:
    a page below 1 (or unreadable) is the first; a ``per_page`` that is not a
    count is Kaminari's default. Never an error.

    ``per_page=0`` makes lago-api fail (Kaminari's ``limit(0)``, then a
    division by zero in lago-api's page count: a 500); here it is treated
    as a value that is not a count."""
    page = max(ruby_to_i(query_params.get("page")), 1)
    raw = query_params.get("per_page")
    if raw is None:
        per_page = DEFAULT_PER_PAGE
    elif not raw[:1] or raw[0] not in "0123456789" or ruby_to_i(raw) <= 0:
        per_page = KAMINARI_PER_PAGE
    else:
        per_page = min(ruby_to_i(raw), MAX_PER_PAGE)
    return page, per_page


def paginate(queryset: QuerySet, *, page: int, per_page: int) -> tuple[list, dict]:
    """One page of ``queryset`` and Lago's ``meta`` block
    (``Pagination#pagination_metadata``): with no rows at all every number is
    0 (``current_page`` included) and no page is next or previous; otherwise
    a page past the last is empty but keeps its number."""
    total = queryset.count()
    start = (page - 1) * per_page
    items = list(queryset[start : start + per_page]) if start < total else []
    if not total:
        return items, {
            "current_page": 0,
            "next_page": None,
            "prev_page": None,
            "total_pages": 0,
            "total_count": 0,
        }
    total_pages = math.ceil(total / per_page)
    return items, {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
    }
