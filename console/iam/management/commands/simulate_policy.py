import json
import sys

from django.core.management.base import BaseCommand, CommandError

from console.iam.simulate import SimulationError, simulate


class Command(BaseCommand):
    help = (
        "May this principal do this action on these resources in this context? Reads the simulator request "
        '(JSON, see console/iam/simulate.py) and prints {"Decision": ..., "MatchedStatements": [...]}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--request-file", required=True, help="the request as JSON; - reads stdin")

    def handle(self, *args, **options):
        path = options["request_file"]
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        try:
            request = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"{path} is not valid JSON: {error}") from error
        try:
            decision = simulate(request)
        except SimulationError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(decision.as_json()))
