from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.fleet import services as fleet_services
from console.iam.models import User
from console.iam.principal import Principal
from console.releases import services


class Command(BaseCommand):
    help = (
        "Choose the agent version an account's instances run (as the account's root user), or pin one "
        "instance with --instance. An empty --version clears the target or pin."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version names a release; it replaces Django's --version (which prints Django's).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True)
        parser.add_argument("--version", required=True)
        parser.add_argument("--instance", default="", help="pin this instance instead")

    def handle(self, *args, **options):
        try:
            account = fleet_services.account_by_name(options["account"])
            root = User.objects.filter(account=account, is_root=True).order_by("pk").first()
            if root is None:
                raise CommandError(f"Account {account.name} has no root user; run bootstrap first.")
            principal = Principal.for_user(root, via="cli")
            services.builtin_release_ensure()
            if options["instance"]:
                services.instance_pin_set(
                    principal=principal, instance_id=options["instance"], version=options["version"]
                )
            else:
                services.account_target_set(principal=principal, version=options["version"])
        except ServiceError as error:
            raise CommandError(error.message) from error
        where = options["instance"] or f"account {account.name}"
        self.stdout.write(f"{where}: target {options['version'] or '(none)'}")
