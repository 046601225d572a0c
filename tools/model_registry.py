"""Deployment backends for `deploy_model`, and the default one: a local model registry.

A backend deploys a registered model's latest version to `staging` or `production`,
records rejected requests, and lists deployments. `LocalModelRegistry` keeps models,
versions and deployments in tables (SQLite under DATA_DIR, or DATABASE_URL's PostgreSQL);
a SageMaker or Kubernetes backend implements the same `DeploymentBackend` protocol and
is chosen where `tools.deploy.configure` builds the backend.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from app.ledgers.database import Database

ENVIRONMENTS = ("staging", "production")
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS registry_models (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        registered_at DOUBLE PRECISION NOT NULL,
        artifact_uri TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS registry_deployments (
        id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        endpoint TEXT,
        requested_at DOUBLE PRECISION NOT NULL,
        decided_by TEXT,
        comment TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS registry_deployments_model ON registry_deployments (model, environment)",
]
# The sample registry a new installation starts with (the models the knowledge base names).
SAMPLE_MODELS = [("fraud-scorer", "2.0.0"), ("fraud-scorer", "2.1.0"), ("intent-clf", "2.1.0"),
                 ("churn-classifier", "1.3.0"), ("churn-classifier", "1.4.0")]


class UnknownModel(ValueError):
    """The registry has no such model."""


class DeploymentBackend(Protocol):
    def deploy(self, model_name: str, environment: str, decided_by: str | None) -> dict[str, Any]:
        """Deploy the model's latest version; returns the deployment (id, version, status, endpoint)."""

    def record_rejection(self, model_name: str, environment: str, decided_by: str,
                         comment: str | None) -> dict[str, Any]:
        """Record that a person rejected this deployment."""

    def deployments(self, model_name: str | None = None) -> list[dict[str, Any]]:
        """Deployments, the newest first."""


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in version.split("."))


class LocalModelRegistry:
    """Models, versions and deployments in the service's own database."""

    def __init__(self, url: str, *, seed: bool = True):
        self._db = Database(url)
        for statement in SCHEMA:
            self._db.execute(statement)
        if seed and not self._db.execute("SELECT 1 FROM registry_models LIMIT 1"):
            for name, version in SAMPLE_MODELS:
                self.register(name, version)

    def register(self, name: str, version: str, artifact_uri: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO registry_models VALUES (?, ?, ?, ?) ON CONFLICT (name, version) DO NOTHING",
            (name, version, time.time(), artifact_uri or f"models:/{name}/{version}"))

    def models(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, version in self._db.execute("SELECT name, version FROM registry_models"):
            found.setdefault(name, []).append(version)
        return {name: sorted(versions, key=_version_key) for name, versions in sorted(found.items())}

    def latest_version(self, model_name: str) -> str:
        versions = self.models().get(model_name)
        if not versions:
            known = ", ".join(self.models()) or "none"
            raise UnknownModel(f"no model named {model_name!r} in the registry (known: {known})")
        return versions[-1]

    def deploy(self, model_name: str, environment: str, decided_by: str | None) -> dict[str, Any]:
        version = self.latest_version(model_name)
        deployment = {
            "id": uuid.uuid4().hex[:12], "model": model_name, "version": version, "environment": environment,
            "status": "deployed", "endpoint": f"https://{environment}.models.internal/{model_name}/v{version}",
            "decided_by": decided_by,
        }
        # The environment's earlier deployment of this model is replaced by this one.
        self._db.execute("UPDATE registry_deployments SET status = 'superseded' "
                         "WHERE model = ? AND environment = ? AND status = 'deployed'", (model_name, environment))
        self._insert(deployment, None)
        return deployment

    def record_rejection(self, model_name: str, environment: str, decided_by: str,
                         comment: str | None) -> dict[str, Any]:
        version = self.models().get(model_name, ["unknown"])[-1]
        deployment = {"id": uuid.uuid4().hex[:12], "model": model_name, "version": version,
                      "environment": environment, "status": "rejected", "endpoint": None, "decided_by": decided_by}
        self._insert(deployment, comment)
        return {**deployment, "comment": comment}

    def _insert(self, deployment: dict[str, Any], comment: str | None) -> None:
        self._db.execute(
            "INSERT INTO registry_deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (deployment["id"], deployment["model"], deployment["version"], deployment["environment"],
             deployment["status"], deployment["endpoint"], time.time(), deployment["decided_by"], comment))

    def deployments(self, model_name: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE model = ?", (model_name,)) if model_name else ("", ())
        rows = self._db.execute(
            "SELECT id, model, version, environment, status, endpoint, requested_at, decided_by, comment "
            f"FROM registry_deployments {where} ORDER BY requested_at DESC", params)
        keys = ("id", "model", "version", "environment", "status", "endpoint", "requested_at", "decided_by",
                "comment")
        return [dict(zip(keys, row)) for row in rows]

    def close(self) -> None:
        self._db.close()
