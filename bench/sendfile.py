"""Send-file benchmark: one large file uploaded through the console form and sent to N real agents on this
machine. Prints the upload time, the time until every agent wrote it (checksum verified on disk), and the
peak RSS (VmHWM) of the console process and of each agent, which stays flat whatever the file size.

    python bench/sendfile.py [--mb-list 8,50,200] [--agents 1]
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from alibabacloud_ecs20140526 import models  # noqa: E402

from tests.live import PASSWORD, embedded_console, sdk_client, wait_until  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def run(size_mb: int, agents: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sendfile-") as tmp:
        tmp_path = Path(tmp)
        procs, console = embedded_console(tmp_path, extra_env={"ASSIST_MAX_UPLOAD_BYTES": str(1 << 40)})
        try:
            key = console.bootstrap()
            ids = console.add_agents(agents, prefix="bench")
            client = sdk_client(console, key)
            source = tmp_path / "payload.bin"
            with open(source, "wb") as f:
                for _ in range(size_mb):
                    f.write(os.urandom(1 << 20))
            session = requests.Session()
            session.get(console.url + "/login/")
            session.post(
                console.url + "/login/",
                data={
                    "username": "admin@acme",
                    "password": PASSWORD,
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                },
            )
            session.get(console.url + "/files/send/")
            time.sleep(2)  # let the agents connect
            started = time.monotonic()
            with open(source, "rb") as f:
                answer = session.post(
                    console.url + "/files/send/",
                    data={"instance_ids": ids, "target_dir": str(tmp_path / "target"), "timeout": "3600"},
                    files={"file": ("payload.bin", f)},
                    headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"]},
                )
            uploaded = time.monotonic()
            answer.raise_for_status()
            invoke_id = answer.json()["InvokeId"]

            def done():
                request = models.DescribeSendFileResultsRequest(region_id="local", invoke_id=invoke_id)
                row = client.describe_send_file_results(request).body.invocations.invocation[0]
                return row if row.invocation_status not in ("Pending", "Running") else None

            row = wait_until(done, timeout=3600, interval=0.1, message="the transfer")
            finished = time.monotonic()
            assert row.invocation_status == "Success", row
            assert digest(tmp_path / "target" / "payload.bin") == digest(source)
            server = procs.children[0].pid
            agent_peaks = [peak_rss_mb(agent.pid) for agent in console.agents.values()]
            print(
                f"{size_mb} MB to {agents} agent(s): upload {uploaded - started:.1f} s, "
                f"transfer {finished - uploaded:.1f} s, "
                f"{size_mb * agents / max(finished - uploaded, 1e-9):.1f} MB/s delivered; "
                f"peak RSS console {peak_rss_mb(server):.0f} MB, "
                f"agent(s) {', '.join(f'{p:.0f}' for p in agent_peaks)} MB",
                flush=True,
            )
        finally:
            procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb-list", default="50", help="file sizes in MB, comma-separated")
    parser.add_argument("--agents", type=int, default=1)
    args = parser.parse_args()
    for size in (int(s) for s in args.mb_list.split(",")):
        run(size, args.agents)


if __name__ == "__main__":
    main()
