"""SendFile for real: `manage.py serve`, agents run through the real CLI (as root here, so owners and groups
are applied for real), the official SDK as the client, the files checked on disk."""

import base64
import grp
import hashlib
import os
import pwd
import signal
import stat
import sys
import time

import pytest
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi import exceptions as tea_exceptions

from tests.live import PASSWORD, embedded_console, sdk_client, wait_for_port, wait_until

pytestmark = pytest.mark.live
FAST = {"ASSIST_DELIVERY_TIMEOUT": "5", "ASSIST_TICK_SECONDS": "0.5"}
API_MAX_RAW = 24 * 1024  # 32 KB after Base64
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sendfile")
    procs, console = embedded_console(tmp, extra_env=FAST)
    try:
        key = console.bootstrap()
        [instance_id] = console.add_agents(1, prefix="files")
        client = sdk_client(console, key)
        yield console, client, instance_id, tmp / "target"
    finally:
        procs.stop_all()


def send(client, instance_ids, name, target_dir, content=b"", *, content_type="Base64", **extra):
    text = base64.b64encode(content).decode() if content_type == "Base64" else content.decode()
    request = models.SendFileRequest(
        region_id="local",
        instance_id=instance_ids,
        name=name,
        target_dir=str(target_dir),
        content=text,
        content_type=content_type,
        **extra,
    )
    return client.send_file(request).body.invoke_id


def describe(client, invoke_id):
    request = models.DescribeSendFileResultsRequest(region_id="local", invoke_id=invoke_id)
    return client.describe_send_file_results(request).body.invocations.invocation[0]


def finished(client, invoke_id, timeout=30):
    def done():
        row = describe(client, invoke_id)
        return row if row.invocation_status not in ("Pending", "Running") else None

    return wait_until(done, timeout=timeout, message=f"{invoke_id} to finish")


def sdk_error(call) -> tea_exceptions.ClientException:
    with pytest.raises(tea_exceptions.ClientException) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("size", [0, 1, API_MAX_RAW], ids=["0B", "1B", "32KB-after-base64"])
def test_files_arrive_whole_with_mode_and_owner(world, size):
    console, client, instance_id, target = world
    content = os.urandom(size)
    owner = {"file_owner": "nobody", "file_group": "nogroup"} if IS_ROOT else {}
    invoke_id = send(client, [instance_id], f"f{size}.bin", target, content, file_mode="0640", **owner)
    row = finished(client, invoke_id)
    [instance] = row.invoke_instances.invoke_instance
    assert (row.invocation_status, instance.invocation_status, instance.error_code) == (
        "Success",
        "Success",
        "",
    )
    assert row.vm_count == 1 and row.overwrite == "false" and row.file_mode == "0640"
    assert instance.start_time and instance.finish_time
    path = target / f"f{size}.bin"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    if IS_ROOT:
        assert (info.st_uid, info.st_gid) == (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    assert not [p.name for p in target.iterdir() if p.name.startswith(".assist-")]


def test_plain_text_content_and_describe_fields(world):
    console, client, instance_id, target = world
    invoke_id = send(
        client, [instance_id], "hello.conf", target / "plain", b"key = value\n", content_type="PlainText",
        description="a config", timeout=5,
    )  # fmt: skip
    row = finished(client, invoke_id)
    assert (target / "plain" / "hello.conf").read_text() == "key = value\n"
    assert (row.content, row.content_type, row.description, row.name) == (
        "key = value\n",
        "PlainText",
        "a config",
        "hello.conf",
    )
    assert (row.file_owner, row.file_group, row.file_mode) == ("root", "root", "0644")
    assert row.target_dir == str(target / "plain") and row.creation_time.endswith("Z")
    assert row.tags.tag == []


def test_overwrite_is_refused_then_allowed(world):
    console, client, instance_id, target = world
    path = target / "over.txt"
    first = finished(client, send(client, [instance_id], "over.txt", target, b"one"))
    assert first.invocation_status == "Success"
    refused = finished(client, send(client, [instance_id], "over.txt", target, b"two"))
    [instance] = refused.invoke_instances.invoke_instance
    assert (refused.invocation_status, instance.invocation_status, instance.error_code) == (
        "Failed",
        "Failed",
        "FileAlreadyExists",
    )
    assert "File already exists" in instance.error_info
    assert path.read_bytes() == b"one"
    allowed = finished(client, send(client, [instance_id], "over.txt", target, b"three", overwrite=True))
    assert (allowed.invocation_status, allowed.overwrite) == ("Success", "true")
    assert path.read_bytes() == b"three"
    assert not [p.name for p in target.iterdir() if p.name.startswith(".assist-")]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"file_owner": "no-such-user-x"}, "UserGroupNotExists"),
        ({"file_group": "no-such-group-x"}, "UserGroupNotExists"),
    ],
    ids=["owner", "group"],
)
def test_unknown_owner_or_group_is_refused_by_the_agent(world, extra, code):
    console, client, instance_id, target = world
    row = finished(client, send(client, [instance_id], "owned.txt", target / "owned", b"x", **extra))
    [instance] = row.invoke_instances.invoke_instance
    assert (row.invocation_status, instance.invocation_status, instance.error_code) == (
        "Failed",
        "Invalid",  # the request cannot be done on this machine; nothing was touched
        code,
    )
    assert ("Owner not exists" if "file_owner" in extra else "Group not exists") in instance.error_info
    assert not (target / "owned" / "owned.txt").exists()


@pytest.mark.parametrize("damage", ["flipped", "shorter"])
def test_a_damaged_server_copy_is_caught_by_the_agents_checksum(world, damage):
    """The server's stored copy no longer matches the digest it announced (disk damage): the agent checks
    the SHA-256 (and the size) of what it received and writes nothing."""
    console, client, instance_id, target = world
    content = f"the real content ({damage})\n".encode() * 100
    stored = target.parent / "data" / "files" / "content"
    sha256 = hashlib.sha256(content).hexdigest()
    (stored / sha256[:2]).mkdir(parents=True, exist_ok=True)
    damaged = bytes([content[0] ^ 1]) + content[1:] if damage == "flipped" else content[:-7]
    (stored / sha256[:2] / sha256).write_bytes(damaged)  # the store keeps a digest it already holds
    row = finished(client, send(client, [instance_id], "checked.txt", target / "damaged", content))
    [instance] = row.invoke_instances.invoke_instance
    assert (instance.invocation_status, instance.error_code) == ("Failed", "FileContentInvalid")
    assert "the content of file is invalid" in instance.error_info
    assert not (target / "damaged" / "checked.txt").exists()
    assert not list((target / "damaged").glob(".assist-*"))


def test_target_dir_that_is_a_file_is_refused(world):
    console, client, instance_id, target = world
    target.mkdir(exist_ok=True)
    (target / "plainfile").write_text("x")
    row = finished(client, send(client, [instance_id], "a.txt", target / "plainfile", b"x"))
    [instance] = row.invoke_instances.invoke_instance
    assert (instance.invocation_status, instance.error_code) == ("Failed", "FilePathInvalid")


INVALID = [
    ({"name": "x" * 256}, "FileName.ExceedLimit"),
    ({"name": "a/b"}, "FileNameInvalid"),
    ({"name": ".."}, "FileNameInvalid"),
    ({"target_dir": "relative/dir"}, "FileTargetDir.Invalid"),
    ({"target_dir": "/tmp/../etc"}, "FileTargetDir.Invalid"),
    ({"file_mode": "0899"}, "FileMode.Invalid"),
    ({"file_mode": "rw-r--r--"}, "FileMode.Invalid"),
    ({"description": "d" * 513}, "FileDesc.ExceedLimit"),
    ({"content": "not base64!", "content_type": "Base64"}, "FileContent.DecodeError"),
    ({"content_type": "Binary"}, "FileContentType.Invalid"),
    ({"content": base64.b64encode(b"x" * (API_MAX_RAW + 1)).decode()}, "FileSize.ExceedLimit"),
    ({"instance_id": [f"mi-{n:020d}" for n in range(51)]}, "InstanceIds.ExceedLimit"),
    ({"instance_id": ["mi-doesnotexist"]}, "InvalidInstance.NotFound"),
]


@pytest.mark.parametrize(
    ("override", "code"), INVALID, ids=[code + str(n) for n, (_, code) in enumerate(INVALID)]
)
def test_invalid_input_gets_the_original_error_code(world, override, code):
    console, client, instance_id, target = world
    fields = {
        "region_id": "local",
        "instance_id": [instance_id],
        "name": "ok.txt",
        "target_dir": str(target / "invalid"),
        "content": base64.b64encode(b"x").decode(),
        "content_type": "Base64",
        **override,
    }
    error = sdk_error(lambda: client.send_file(models.SendFileRequest(**fields)))
    assert error.code == code, error.message
    assert not (target / "invalid").exists()


# --- the console upload ----------------------------------------------------------------------------

LARGE = 50 * 1024 * 1024


def console_session(console):
    import requests

    session = requests.Session()
    session.get(console.url + "/login/")
    answer = session.post(
        console.url + "/login/",
        data={
            "username": "admin@acme",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
    )
    assert answer.url == console.url + "/", answer.url  # the log-in lands on / (the dashboard)
    return session


def upload(session, console, path, instance_ids, target_dir, **fields):
    session.get(console.url + "/files/send/")
    with open(path, "rb") as f:
        return session.post(
            console.url + "/files/send/",
            data={"instance_ids": instance_ids, "target_dir": str(target_dir), **fields},
            files={"file": (path.name, f)},
            headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"]},
        )


def test_large_file_uploaded_through_the_console_arrives_whole(world, tmp_path):
    console, client, instance_id, target = world
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(LARGE // (1 << 20)):
            f.write(os.urandom(1 << 20))
    session = console_session(console)
    server, agent = console.procs.children[0].pid, console.agents["files-000"].pid
    server_before = peak_rss_mb(server)
    started = time.monotonic()
    answer = upload(session, console, source, [instance_id], target / "big", mode="0600")
    assert answer.status_code == 200, answer.text
    uploaded = time.monotonic()
    invoke_id = answer.json()["InvokeId"]
    row = finished(client, invoke_id, timeout=60)
    elapsed = time.monotonic() - started
    [instance] = row.invoke_instances.invoke_instance
    assert (row.invocation_status, instance.error_code) == ("Success", ""), instance.error_info
    written = target / "big" / "big.bin"
    assert file_digest(written) == file_digest(source)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert row.content == ""  # large files are not echoed back through the API
    # Memory stays flat: neither the upload nor the transfer holds the file in memory.
    assert peak_rss_mb(server) - server_before < 40, (server_before, peak_rss_mb(server))
    assert peak_rss_mb(agent) < 60
    print(f"50 MB: upload {uploaded - started:.1f} s, upload + transfer {elapsed:.1f} s")


def test_console_upload_refuses_bad_fields_with_field_errors(world, tmp_path):
    console, client, instance_id, target = world
    source = tmp_path / "small.txt"
    source.write_bytes(b"hi")
    session = console_session(console)
    answer = upload(session, console, source, [instance_id], "relative/dir")
    assert answer.status_code == 403
    assert "target_dir" in answer.json()["errors"]
    answer = upload(session, console, source, [], target, mode="999")
    assert answer.status_code in (400, 403)
    assert set(answer.json()["errors"]) & {"mode", "instances"}
    with open(source, "rb") as f:  # no CSRF token: refused before anything is kept
        forged = session.post(console.url + "/files/send/", data={"target_dir": "/tmp"}, files={"file": f})
    assert forged.status_code == 403
    incoming = target.parent / "data" / "files" / "incoming"
    assert list(incoming.iterdir()) == []  # every refused upload's temporary file is gone


def test_an_agent_killed_mid_transfer_leaves_no_file_and_the_result_ends(world, tmp_path):
    console, client, _, target = world
    [instance_id] = console.add_agents(1, prefix="killed")
    agent = console.agents["killed-000"]
    wait_until(lambda: _online(client, instance_id), timeout=30, message="the agent to come online")
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(LARGE // (1 << 20)):
            f.write(os.urandom(1 << 20))
    where = target / "killed"
    session = console_session(console)
    answer = upload(session, console, source, [instance_id], where)
    invoke_id = answer.json()["InvokeId"]

    def temp_growing():
        temps = list(where.glob(".assist-*.tmp")) if where.exists() else []
        return temps if temps and temps[0].stat().st_size > 0 else None

    [temp] = wait_until(temp_growing, timeout=30, interval=0.005, message="the transfer to start")
    os.killpg(agent.pid, signal.SIGKILL)
    agent.wait()
    assert not (where / "big.bin").exists()
    assert temp.exists()  # the half-written temporary file is all there is
    console.start_agent("killed-000")
    row = finished(client, invoke_id, timeout=30)
    [instance] = row.invoke_instances.invoke_instance
    assert (instance.invocation_status, instance.error_code) == ("Failed", "FileCreateFail")
    assert not (where / "big.bin").exists()
    assert not list(where.glob(".assist-*"))  # cleaned up on the next start


def test_one_transfer_to_several_instances(world, tmp_path):
    """Two agents (on this one machine, so both write the same path): the console's upload reaches both; sent
    again without Overwrite, exactly one of them places the file and the other is refused, PartialFailed."""
    console, client, instance_id, target = world
    [second] = console.add_agents(1, prefix="second")
    wait_until(lambda: _online(client, second), timeout=30, message="the second agent to come online")
    source = tmp_path / "both.txt"
    source.write_bytes(b"to every instance")
    where = target / "several"
    answer = upload(console_session(console), console, source, [instance_id, second], where, overwrite="on")
    assert answer.status_code == 200, answer.text
    row = finished(client, answer.json()["InvokeId"])
    assert (row.invocation_status, row.vm_count) == ("Success", 2)
    instances = sorted((i.instance_id, i.invocation_status) for i in row.invoke_instances.invoke_instance)
    assert instances == sorted([(instance_id, "Success"), (second, "Success")])
    assert (where / "both.txt").read_bytes() == b"to every instance"

    row = finished(client, send(client, [instance_id, second], "once.txt", where, b"first wins"))
    outcomes = sorted((i.invocation_status, i.error_code) for i in row.invoke_instances.invoke_instance)
    assert outcomes == [("Failed", "FileAlreadyExists"), ("Success", "")]
    assert row.invocation_status == "PartialFailed"
    assert (where / "once.txt").read_bytes() == b"first wins"
    assert not list(where.glob(".assist-*"))


def _online(client, instance_id):
    request = models.DescribeCloudAssistantStatusRequest(region_id="local", instance_id=[instance_id])
    rows = client.describe_cloud_assistant_status(request).body.instance_cloud_assistant_status_set
    return rows.instance_cloud_assistant_status[0].cloud_assistant_status == "true"


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_console_upload_targets_the_instances_with_a_tag(world, tmp_path):
    console, client, instance_id, target = world
    tag = models.TagResourcesRequestTag(key="role", value="web")
    client.tag_resources(
        models.TagResourcesRequest(
            region_id="local", resource_type="managedinstance", resource_id=[instance_id], tag=[tag]
        )
    )
    source = tmp_path / "tagged.txt"
    source.write_bytes(b"by tag")
    session = console_session(console)
    missing = upload(session, console, source, [], target / "tagged", tag="role=db")
    assert missing.status_code == 400 and "role=db" in missing.json()["errors"]["instances"]
    answer = upload(session, console, source, [], target / "tagged", tag="role=web")
    assert answer.status_code == 200, answer.text
    row = finished(client, answer.json()["InvokeId"])
    assert [i.instance_id for i in row.invoke_instances.invoke_instance] == [instance_id]
    assert (target / "tagged" / "tagged.txt").read_bytes() == b"by tag"


def test_a_console_restart_mid_transfer_only_delays_it(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    try:
        key = console.bootstrap()
        instance_id = console.register_agent("survivor", console.create_activation(count=1))
        state = procs.workdir / "agents" / "survivor"
        procs.spawn(  # retries every second at most, so the test does not wait out a long backoff
            "agent-survivor",
            [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state), "--reconnect-max", "1"],
        )
        client = sdk_client(console, key)
        wait_until(lambda: _online(client, instance_id), timeout=30, message="the agent to come online")
        source = tmp_path / "big.bin"
        with open(source, "wb") as f:
            for _ in range(LARGE // (1 << 20)):
                f.write(os.urandom(1 << 20))
        where = tmp_path / "target"
        answer = upload(console_session(console), console, source, [instance_id], where, timeout="120")
        invoke_id = answer.json()["InvokeId"]
        wait_until(lambda: list(where.glob(".assist-*.tmp")), timeout=30, interval=0.005, message="the start")
        server = procs.children[0]
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        assert not (where / "big.bin").exists()
        port = int(console.url.rsplit(":", 1)[1])
        restarted = procs.spawn(
            "serve-again", [sys.executable, "manage.py", "serve", "--port", str(port), "--no-local-agent"]
        )
        wait_for_port(port, timeout=60, proc=restarted)
        row = finished(client, invoke_id, timeout=60)
        assert row.invocation_status == "Success", procs.dump_logs()
        assert file_digest(where / "big.bin") == file_digest(source)
        assert not list(where.glob(".assist-*"))
    finally:
        procs.stop_all()
