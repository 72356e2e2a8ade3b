"""Django-free core of webhook delivery: signing, SSRF guard, one HTTP attempt over kept-alive
connections, retry policy, the scheduling rule (``fairness``) and the delivery loop (``pump``).

The delivery state machine (rows, claims, ``next_attempt_at`` sweep, Celery tasks) lives
elsewhere and passes settings in as plain arguments; nothing in this package imports Django.
"""
