from django.db import models
from django.utils import timezone


class TouchingQuerySet(models.QuerySet):
    """``update()`` stamps ``updated_at`` too: state machines move rows with
    conditional UPDATEs, which bypass ``auto_now``, and the operations page
    counts transitions by that column."""

    def update(self, **kwargs):
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)
