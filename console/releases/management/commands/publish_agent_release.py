import json
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.releases import services


class Command(BaseCommand):
    help = (
        "Publish an agent release: a zipapp file, or a build of the console's agent sources (--from-source) "
        "under another version (--version). It is hashed and signed with the console's release key."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version names a release; it replaces Django's --version (which prints Django's).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="the zipapp (.pyz) to publish")
        parser.add_argument("--version", default="", help="version name (default: the zipapp's own)")
        parser.add_argument("--from-source", action="store_true", help="build from the agent sources")
        parser.add_argument("--notes", default="")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        from console.gateway import distribution

        path, version = options["path"], options["version"]
        if bool(path) == bool(options["from_source"]):
            raise CommandError("give either a zipapp path or --from-source")
        if options["from_source"]:
            version = version or distribution._version(distribution.agent_source_dir())
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "assist-agent.pyz"
                distribution.build_pyz(target, version=version)
                data = target.read_bytes()
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc}") from exc
            version = version or _embedded_version(data)
            if not version:
                raise CommandError(f"{path} names no assist_agent.__version__: give --version")
        try:
            release = services.release_publish(data=data, version=version, notes=options["notes"])
        except ServiceError as error:
            raise CommandError(error.message) from error
        result = {"Version": release.version, "Sha256": release.sha256, "Size": release.size}
        self.stdout.write(
            json.dumps(result) if options["json"] else f"published {release.version} ({release.sha256})"
        )


def _embedded_version(data: bytes) -> str:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text = archive.read("assist_agent/__init__.py").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError):
        return ""
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return ""
