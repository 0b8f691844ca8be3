"""The twin as a service: a REST API and a web dashboard over the library (FastAPI), with token auth and metrics.

Needs the ``service`` extra. ``create_app`` builds the application; ``ndtwin serve`` runs it with uvicorn.
"""
