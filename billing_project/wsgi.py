import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
application = get_wsgi_application()

from billing_project.startup import announce_loopback_webhooks  # noqa: E402 (needs Django set up)

announce_loopback_webhooks()
