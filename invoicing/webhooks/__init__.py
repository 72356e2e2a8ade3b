"""Django-free core of webhook delivery: signing, SSRF guard, one HTTP attempt, retry policy.

The delivery state machine (rows, ``next_attempt_at`` sweep, Celery tasks) lives elsewhere and
passes settings in as plain arguments; nothing in this package imports Django.
"""
