"""The operations page (``/admin/ops/``): the pipeline's state in one look.

Wrapped by ``admin.site.admin_view`` in the URLconf, so only active staff
users reach it; the numbers come from ``invoicing.ops.stats``."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from invoicing.ops.stats import ops_snapshot


@never_cache
def ops_page(request):
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "snapshot": ops_snapshot(),
    }
    return TemplateResponse(request, "admin/ops.html", context)
