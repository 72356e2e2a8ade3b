# Load the Celery app with Django so that tasks bind to it wherever they are
# enqueued (web process, management commands, workers).
from billing_project.celery import app as celery_app

__all__ = ["celery_app"]
