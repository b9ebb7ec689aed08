"""The agent runs on the system Python of common distributions (3.8 and newer), though CI has 3.11: every
source file is checked against 3.8's grammar and, with vermin, against the APIs 3.8 has."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import assist_agent
import pytest

PACKAGE = Path(assist_agent.__file__).resolve().parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_there_are_sources() -> None:
    assert {p.name for p in SOURCES} >= {"cli.py", "runner.py", "protocol.py", "wsclient.py", "__main__.py"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_parses_with_the_python_3_8_grammar(path: Path) -> None:
    ast.parse(path.read_text("utf-8"), filename=str(path), feature_version=(3, 8))


def _vermin() -> list[str]:
    exe = Path(sys.executable).with_name("vermin")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("vermin")
    if found:
        return [found]
    pytest.importorskip("vermin", reason="vermin is in the test extras: pip install -e '.[test]'")
    return [sys.executable, "-m", "vermin"]


def test_vermin_finds_nothing_newer_than_python_3_8() -> None:
    done = subprocess.run(
        [*_vermin(), "--target=3.8-", "--no-tips", "--violations", "--no-parse-comments", *map(str, SOURCES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # --violations lists only the offending lines; a clean run lists no file.
    assert not [line for line in done.stdout.splitlines() if line.startswith(("!", "  '"))], done.stdout


def test_runtime_unions_and_new_typing_are_not_used() -> None:
    """What vermin cannot see: ``X | Y`` evaluated at run time (isinstance, aliases) needs 3.10."""
    for path in SOURCES:
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
                assert not isinstance(node.args[1], ast.BinOp), (
                    f"{path.name}:{node.lineno}: isinstance(x, A | B)"
                )
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
                value = node.value
                assert not (
                    isinstance(value.op, ast.BitOr)
                    and isinstance(value.left, ast.Name)
                    and value.left.id[:1].isupper()
                ), f"{path.name}:{node.lineno}: alias A | B"


def test_package_says_python_3_8() -> None:
    assert 'requires-python = ">=3.8"' in PYPROJECT.read_text("utf-8")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
@pytest.mark.parametrize("version", [(3, 8, 18), sys.version_info])
def test_run_as_another_user_on_3_8_and_later(monkeypatch: pytest.MonkeyPatch, version: Any) -> None:
    """Python 3.8's Popen has no user/group/extra_groups: the agent demotes the child in preexec_fn."""
    import pwd

    from assist_agent import executor

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    monkeypatch.setattr(executor.sys, "version_info", version)
    run_as, env, _home = executor._user_context("nobody")
    assert run_as is not None and env["USER"] == "nobody"
    kwargs = run_as.popen_kwargs()
    assert ("preexec_fn" in kwargs) == (version < (3, 9))
    monkeypatch.undo()
    done = subprocess.run(["sh", "-c", "id -u; id -g"], capture_output=True, text=True, check=True, **kwargs)
    assert done.stdout.split() == [str(nobody.pw_uid), str(nobody.pw_gid)]
