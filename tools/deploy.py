"""deploy_model: deploy a registered model to staging, or, once a person approves, to production.

The runbook's `deploy_tool.py`, against a deployment backend (`tools.model_registry`):
the local model registry by default. A production deployment pauses the conversation
until someone approves or rejects it (`POST /conversations/{id}/approve`); a rejection is
recorded as a rejected deployment.
"""

from __future__ import annotations

import re
from typing import Any

from tools.model_registry import ENVIRONMENTS, DeploymentBackend, LocalModelRegistry
from tools.registry import approved_by

TOOL_SPEC = {
    "name": "deploy_model",
    "description": "Deploy a trained model from the model registry to the staging or production environment",
    "parameters": {
        "model_name": {
            "type": "string",
            "description": "The registered model, e.g. 'churn-classifier'",
            "required": True,
            "minLength": 1,
            "maxLength": 100,
        },
        "environment": {
            "type": "string",
            "description": "Where to deploy it",
            "enum": list(ENVIRONMENTS),
            "required": True,
        },
    },
    "timeout_seconds": 30.0,
    "approval": {"environment": ["production"]},
    "scope": "admin",  # any deployment, staging included, is an operator's action
    "side_effects": True,
    "examples": [
        "Deploy churn-classifier to staging",
        "Deploy the fraud-scorer model to production",
        "Please deploy intent-clf to staging",
        "Promote churn-classifier to production",
        "Roll out fraud-scorer to prod",
        "Release the intent-clf model to production",
        "Can you deploy model churn-classifier in staging?",
        "Ship fraud-scorer to staging",
    ],
}

_backend: DeploymentBackend | None = None


def configure(settings: Any) -> None:
    global _backend
    _backend = LocalModelRegistry(settings.ledger_url)


def _require_backend() -> DeploymentBackend:
    if _backend is None:
        raise RuntimeError("no deployment backend is configured")
    return _backend


def deploy_model(model_name: str, environment: str) -> dict[str, Any]:
    """Deploy the model's latest registered version; production only runs once approved."""
    decided_by = approved_by.get()
    if environment == "production" and decided_by is None:
        raise PermissionError("production deployments need a person's approval")
    deployment = _require_backend().deploy(model_name, environment, decided_by)
    approval = f", approved by {decided_by}" if decided_by else ""
    deployment["summary"] = (f"Deployed {model_name} version {deployment['version']} to {environment}"
                             f"{approval}: {deployment['endpoint']} (deployment {deployment['id']}).")
    return deployment


def on_rejected(arguments: dict[str, Any], decided_by: str, comment: str | None) -> dict[str, Any]:
    rejected = _require_backend().record_rejection(arguments["model_name"], arguments["environment"], decided_by,
                                                   comment)
    reason = f" ({comment})" if comment else ""
    rejected["summary"] = (f"The deployment of {arguments['model_name']} to {arguments['environment']} was "
                           f"rejected by {decided_by}{reason}; nothing was deployed.")
    return rejected


_DEPLOY = re.compile(
    r"\b(?:deploy|promote|roll ?out|release|ship|push)\s+(?:the\s+)?(?:model\s+)?`?(?P<model>[a-z0-9][a-z0-9._-]*)`?"
    r"(?:\s+model)?\s+(?:to|in|into|on)\s+(?:the\s+)?(?P<env>staging|stage|production|prod)\b",
    re.IGNORECASE,
)
_ENVIRONMENT = {"stage": "staging", "staging": "staging", "prod": "production", "production": "production"}


def extract_arguments(message: str) -> dict[str, Any] | None:
    """Arguments from a plain-language request, for chat models without tool calling."""
    match = _DEPLOY.search(message)
    if match is None:
        return None
    return {"model_name": match.group("model").lower(), "environment": _ENVIRONMENT[match.group("env").lower()]}
