"""The operations page (``/admin/ops/``): the pipeline's state in one look.

Wrapped by ``admin.site.admin_view`` in the URLconf, so only active staff
users reach it, and of those only who may view invoices and deliveries; the
numbers come from ``invoicing.ops.stats``."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from invoicing.ops.stats import ops_snapshot

# The page shows every organization's pipeline: staff who may view invoices
# and deliveries may see it, not every staff account.
OPS_PERMISSIONS = ("invoicing.view_invoice", "invoicing.view_webhookdelivery")


@never_cache
def ops_page(request):
    if not request.user.has_perms(OPS_PERMISSIONS):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "snapshot": ops_snapshot(),
    }
    return TemplateResponse(request, "admin/ops.html", context)
