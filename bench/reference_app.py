"""The reference endpoint of ``bench/load.py`` and ``bench/hotpaths.py``: a
plain DRF view doing one indexed PostgreSQL query, served through the
project's own settings, middleware and gunicorn command line, so that the
download endpoints can be given as a share of it on whatever machine runs the
benchmark (issue 8: "at least 60 % of a plain DRF endpoint doing one indexed
PostgreSQL query").

It is a benchmark-only WSGI module, never a route of the service:

    gunicorn bench.reference_app:application ...

``GET /bench/reference/<uuid>`` reads three columns of one invoice by primary
key and answers them as JSON; no authentication (a key lookup would be a
second query). Every other path is the project's own URL configuration. The
extra URL is chosen per request (``request.urlconf``), so settings are not
touched and the project's handler in the same process is unaffected.
"""

from __future__ import annotations

import os

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
if not apps.ready:  # imported by bench/hotpaths.py, which has set Django up
    django.setup()

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_project.urls import urlpatterns as project_urlpatterns
from invoicing.models import Invoice

REFERENCE_PATH = "/bench/reference/"


class ReferenceApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request, pk):
        row = Invoice.objects.values("id", "number", "status").get(pk=pk)
        return Response({"id": str(row["id"]), "number": row["number"], "status": row["status"]})


urlpatterns = [
    path(f"{REFERENCE_PATH.strip('/')}/<uuid:pk>", ReferenceApi.as_view()),
    *project_urlpatterns,
]


class _ReferenceRequest(WSGIRequest):
    # Django resolves with ``request.urlconf`` when a request has one.
    urlconf = __name__


class _ReferenceHandler(WSGIHandler):
    request_class = _ReferenceRequest


application = _ReferenceHandler()
