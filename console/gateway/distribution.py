"""The agent as the console hands it out: a single-file zipapp and the install/uninstall scripts.

The zipapp is built on demand from the agent sources the console runs with (the ``assist_agent``
package), cached in ``ASSIST_DATA_DIR/agent-dist/`` under a hash of those sources, so a changed agent
is rebuilt on the next download and an unchanged one never is. It needs only a system Python 3.8+.
"""

import hashlib
import os
import shutil
import tempfile
import threading
import zipapp
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

PYZ_NAME = "assist-agent.pyz"
INTERPRETER = "/usr/bin/env python3"
SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
SERVER_PLACEHOLDER = "@ASSIST_SERVER@"

_MAIN = '''"""Entry point of the single-file agent: python3 assist-agent.pyz --help"""

import sys

from assist_agent.cli import main

sys.exit(main())
'''

_build_lock = threading.Lock()


@dataclass(frozen=True)
class Build:
    path: Path
    sha256: str
    version: str


def agent_source_dir() -> Path:
    import assist_agent

    return Path(assist_agent.__file__).resolve().parent


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def sources_hash(root: Path | None = None) -> str:
    """SHA-256 over the agent's source files (names and contents) and the build recipe."""
    root = root or agent_source_dir()
    digest = hashlib.sha256(_MAIN.encode() + INTERPRETER.encode())
    for path in _sources(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(root: Path) -> str:
    for line in (root / "__init__.py").read_text("utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "0"


def build_pyz(target: Path, root: Path | None = None, *, version: str = "") -> None:
    """Write the zipapp to ``target`` (through a temporary file in the same directory). ``version``
    overrides ``assist_agent.__version__`` in the build (releases built from these sources, tests)."""
    root = root or agent_source_dir()
    with tempfile.TemporaryDirectory(prefix="assist-agent-build-") as tmp:
        staging = Path(tmp) / "app"
        package = staging / "assist_agent"
        for path in _sources(root):
            dest = package / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        (staging / "__main__.py").write_text(_MAIN, "utf-8")
        if version:
            init = package / "__init__.py"
            lines = [
                f'__version__ = "{version}"' if line.startswith("__version__") else line
                for line in init.read_text("utf-8").splitlines()
            ]
            init.write_text("\n".join(lines) + "\n", "utf-8")
        partial = target.with_name(target.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
        zipapp.create_archive(staging, partial, interpreter=INTERPRETER, compressed=True)
        os.replace(partial, target)


def current_build() -> Build:
    """The zipapp of the current agent sources, built now if the cache does not hold it."""
    root = agent_source_dir()
    key = sources_hash(root)[:24]
    version = _version(root)
    directory = Path(settings.DATA_DIR) / "agent-dist"
    path = directory / f"assist-agent-{version}-{key}.pyz"
    sha_file = path.with_name(path.name + ".sha256")
    with _build_lock:
        if not (path.is_file() and sha_file.is_file()):
            directory.mkdir(parents=True, exist_ok=True)
            for old in directory.glob("assist-agent-*.pyz*"):  # builds of earlier sources
                if not old.name.startswith(path.name):
                    old.unlink(missing_ok=True)
            build_pyz(path, root)
            partial = sha_file.with_name(sha_file.name + f".{os.getpid()}.tmp")
            partial.write_text(_file_sha256(path) + "\n", "ascii")
            os.replace(partial, sha_file)
        sha256 = sha_file.read_text("ascii").strip()
    return Build(path=path, sha256=sha256, version=version)


def shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render_script(name: str, server: str) -> str:
    """install.sh or uninstall.sh with the console's URL filled in (as a single-quoted shell word)."""
    text = (SCRIPTS_DIR / name).read_text("utf-8")
    return text.replace(SERVER_PLACEHOLDER, shell_quote(server.rstrip("/")))
