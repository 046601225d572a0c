"""deploy_model: deploy a registered model to staging, or, once a person approves, to production.

The runbook's `deploy_tool.py`, against a deployment backend (`tools.model_registry`):
the local model registry by default. A production deployment pauses the conversation
until someone approves or rejects it (`POST /conversations/{id}/approve`); a rejection is
recorded as a rejected deployment.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from langchain_core.tools import InjectedToolArg
from pydantic import Field

from tools.model_registry import DeploymentBackend, Environment, LocalModelRegistry

TOOL_SPEC = {
    "name": "deploy_model",
    "description": "Deploy a trained model from the model registry to the staging or production environment",
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


def configure(settings: Any) -> dict[str, Any]:
    """The deployment back-end: the local model registry in the service's database."""
    return {"backend": LocalModelRegistry(settings.ledger_url)}


def _require(backend: DeploymentBackend | None) -> DeploymentBackend:
    if backend is None:
        raise RuntimeError("no deployment backend is configured")
    return backend


def deploy_model(
    model_name: Annotated[str, Field(min_length=1, max_length=100,
                                     description="The registered model, e.g. 'churn-classifier'")],
    environment: Annotated[Environment, Field(description="Where to deploy it")],
    backend: Annotated[DeploymentBackend | None, InjectedToolArg] = None,
    approved_by: Annotated[str | None, InjectedToolArg] = None,
) -> dict[str, Any]:
    """Deploy the model's latest registered version; production only runs once approved."""
    if environment == "production" and approved_by is None:
        raise PermissionError("production deployments need a person's approval")
    deployment = _require(backend).deploy(model_name, environment, approved_by)
    approval = f", approved by {approved_by}" if approved_by else ""
    deployment["summary"] = (f"Deployed {model_name} version {deployment['version']} to {environment}"
                             f"{approval}: {deployment['endpoint']} (deployment {deployment['id']}).")
    return deployment


def on_rejected(arguments: dict[str, Any], decided_by: str, comment: str | None,
                backend: DeploymentBackend | None = None) -> dict[str, Any]:
    rejected = _require(backend).record_rejection(arguments["model_name"], arguments["environment"], decided_by,
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
