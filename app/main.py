"""The ASGI app for `uvicorn app.main:app --host 0.0.0.0 --port 8000` (the README's and the
runbook's line); `chatbot serve` runs the factory `app.gateway.factory:create_app` instead.

Importing this module builds the app from the settings: only uvicorn imports it.
"""

from app.gateway.factory import create_app

app = create_app()
