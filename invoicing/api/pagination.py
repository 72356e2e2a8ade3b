from __future__ import annotations

import math

from django.db.models import QuerySet


def paginate(queryset: QuerySet, *, page: int, per_page: int) -> tuple[list, dict]:
    """One page of ``queryset`` and Lago's ``meta`` block."""
    total = queryset.count()
    total_pages = max(math.ceil(total / per_page), 1) if total else 0
    start = (page - 1) * per_page
    items = list(queryset[start : start + per_page]) if start < total else []
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
    }
    return items, meta
