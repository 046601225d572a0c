"""The HTTP gateway: the FastAPI app (`factory.create_app`), its routes, dependencies and middleware."""
