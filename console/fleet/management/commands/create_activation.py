import json

from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.fleet import services
from console.iam.models import User
from console.iam.principal import Principal


class Command(BaseCommand):
    help = "Create an activation code for scripted agent registration."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True)
        parser.add_argument("--region", default="")
        parser.add_argument("--count", type=int, default=10)
        parser.add_argument("--ttl-hours", type=int, default=4)
        parser.add_argument("--name", default="", help="instance name prefix")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        try:
            account = services.account_by_name(options["account"])
            root = User.objects.filter(account=account, is_root=True).order_by("pk").first()
            if root is None:
                raise CommandError(f"Account {account.name} has no root user; run bootstrap first.")
            issued = services.activation_create(
                principal=Principal.for_user(root, via="cli"),
                region=options["region"],
                instance_count=options["count"],
                time_to_live_hours=options["ttl_hours"],
                instance_name=options["name"],
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        result = {"ActivationId": issued.activation.id, "ActivationCode": issued.code}
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"ActivationId:   {result['ActivationId']}\nActivationCode: {result['ActivationCode']}"
            )
