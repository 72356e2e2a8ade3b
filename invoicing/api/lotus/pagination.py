"""Lists as upstream Lotus answers them (a bare JSON array: lotus-python's
``list_customers`` iterates the body), bounded by cursor pages whose links
travel in a ``Link`` header (RFC 8288) instead of the body."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
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

    def decode_cursor(self, request):
        """DRF's cursor, refused with a 400 unless it decodes and its position
        is a timestamp: a tampered one (``p=notadate``) reached the database
        as a date and answered a 500."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise exceptions.ValidationError({"cursor": ["Invalid cursor."]})
        return cursor

    def keep_first(self, count: int) -> None:
        """Cut the page after its first ``count`` rows; the next link then
        starts after the last row kept."""
        if count < len(self.page):
            # DRF's next position is that of the first row after the page.
            following = self.page[count]
            self.next_position = self._get_position_from_instance(following, self.ordering)
            self.page = self.page[:count]
            self.has_next = True

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
