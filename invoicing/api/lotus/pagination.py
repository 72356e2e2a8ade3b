"""Lists as upstream Lotus answers them (a bare JSON array: lotus-python's
``list_customers`` iterates the body), bounded by cursor pages whose links
travel in a ``Link`` header (RFC 8288) instead of the body."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

# Upstream returns every row at once; a page this large keeps the usual
# "everything in one call" for small accounts while bounding the response.
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


class LinkHeaderCursorPagination(CursorPagination):
    # Newest first; the id breaks ties between rows created in the same instant.
    ordering = ("-created_at", "-id")
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_paginated_response(self, data) -> Response:
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", self.get_next_link()), ("prev", self.get_previous_link()))
            if url
        ]
        return Response(data, headers={"Link": ", ".join(links)} if links else None)


PAGE_PARAMETERS = [
    OpenApiParameter(
        "cursor",
        OpenApiTypes.STR,
        description='Opaque; follow the `Link: <...>; rel="next"` header of the previous page.',
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"Rows per page, default {PAGE_SIZE}, at most {MAX_PAGE_SIZE}.",
    ),
]
