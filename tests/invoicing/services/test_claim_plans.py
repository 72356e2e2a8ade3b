"""The claims' statements as PostgreSQL runs them once prepared: a generic plan,
made without the parameters' values. The states they look for are literals
(``selectors._constant``), so that such a plan can use the partial indexes of
waiting rows that the claims were built on (migrations 0013 and 0017); with the
states as parameters it could not, and read the (state, ...) indexes instead,
dead entries of every row a month-end had moved on included."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from invoicing.services import pdf, webhooks

pytestmark = pytest.mark.django_db


def _indexes(plan: dict) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", ()):
        found |= _indexes(child)
    return found


def _generic_plan_indexes(sql: str, types: dict[str, str], values: dict[str, str]) -> set[str]:
    """The indexes of ``sql``'s generic plan (its %(name)s parameters typed by
    ``types``, bound to the SQL literals ``values``). Sequential scans are off:
    the test's tables are tiny, and the question is which indexes the plan can
    use at all."""
    names = list(types)
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE planned({', '.join(types.values())}) AS {numbered}")
        try:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(
                "EXPLAIN (FORMAT JSON) EXECUTE planned("
                + ", ".join(values[name] for name in names)
                + ")"
            )
            [[explained]] = cursor.fetchall()
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("RESET enable_seqscan")
            cursor.execute("DEALLOCATE planned")
    plan = (explained[0] if isinstance(explained, list) else explained)["Plan"]
    return _indexes(plan)


def test_the_render_claims_generic_plan_uses_the_pending_jobs_index():
    indexes = _generic_plan_indexes(
        pdf._claim_fair_sql(),
        {
            "start": "uuid",
            "size": "int",
            "max_attempts": "int",
            "now": "timestamptz",
            "lease_ends": "timestamptz",
            "named": "uuid[]",
        },  # fmt: skip
        {
            "start": "'00000000-0000-0000-0000-000000000001'",
            "size": "20",
            "max_attempts": "5",
            "now": "now()",
            "lease_ends": "now()",
            "named": "'{}'",
        },  # fmt: skip
    )
    assert "pdf_job_pending_org" in indexes, indexes


def test_the_webhook_claims_generic_plan_uses_the_pending_deliveries_index():
    indexes = _generic_plan_indexes(
        webhooks._ENDPOINT_LOAD_SQL,
        {"organizations": "uuid[]", "now": "timestamptz", "most": "int"},
        {
            "organizations": "'{00000000-0000-0000-0000-000000000001}'",
            "now": "now()",
            "most": "32",
        },  # fmt: skip
    )
    assert "delivery_pending_endpoint" in indexes, indexes
