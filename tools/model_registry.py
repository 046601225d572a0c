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
from typing import Any, Literal, Protocol, runtime_checkable

from sqlalchemy import select

from app.ledgers.database import Database, owned
from app.ledgers.tables import registry_deployments, registry_models

Environment = Literal["staging", "production"]
# The sample registry a new installation starts with (the models the knowledge base names).
SAMPLE_MODELS = [("fraud-scorer", "2.0.0"), ("fraud-scorer", "2.1.0"), ("intent-clf", "2.1.0"),
                 ("churn-classifier", "1.3.0"), ("churn-classifier", "1.4.0")]


class UnknownModel(ValueError):
    """The registry has no such model."""


@runtime_checkable
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

    def __init__(self, db: Database | str, *, seed: bool = True):
        self._db, self._owns_db = owned(db)
        self._db.require("ledgers")
        if seed and not self._db.execute(select(registry_models.c.name).limit(1)):
            for name, version in SAMPLE_MODELS:
                self.register(name, version)

    def register(self, name: str, version: str, artifact_uri: str | None = None) -> None:
        insert = self._db.insert(registry_models).values(name=name, version=version, registered_at=time.time(),
                                                         artifact_uri=artifact_uri or f"models:/{name}/{version}")
        self._db.execute(insert.on_conflict_do_nothing(index_elements=["name", "version"]))

    def models(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, version in self._db.execute(select(registry_models.c.name, registry_models.c.version)):
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
        d = registry_deployments.c
        self._db.execute(registry_deployments.update()
                         .where(d.model == model_name, d.environment == environment, d.status == "deployed")
                         .values(status="superseded"))
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
        self._db.execute(registry_deployments.insert().values(**deployment, requested_at=time.time(), comment=comment))

    def deployments(self, model_name: str | None = None) -> list[dict[str, Any]]:
        d = registry_deployments.c
        columns = ("id", "model", "version", "environment", "status", "endpoint", "requested_at", "decided_by",
                   "comment")
        query = select(*(d[c] for c in columns)).order_by(d.requested_at.desc())
        if model_name:
            query = query.where(d.model == model_name)
        return [dict(zip(columns, row)) for row in self._db.execute(query)]

    def close(self) -> None:
        if self._owns_db:
            self._db.close()
