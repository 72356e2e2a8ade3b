"""The wire shapes of both faces, declared once (``declare.py``): used by the
API views, the webhook payloads and the OpenAPI schema. Below the services:
it imports the models and nothing of the faces."""
