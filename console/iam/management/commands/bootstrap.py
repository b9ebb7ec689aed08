import json

from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.iam import services


class Command(BaseCommand):
    help = "Create the account and its root user if missing, and issue a new access key."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True)
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        try:
            user, key = services.bootstrap(
                account_name=options["account"], username=options["username"], password=options["password"]
            )
        except ServiceError as error:
            raise CommandError(error.message) from error
        result = {
            "AccountId": user.account_id,
            "UserName": user.name,
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": key.access_key_secret,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"Account {options['account']} ({user.account_id}), root user {user.login_name}\n"
                f"AccessKeyId:     {key.access_key_id}\nAccessKeySecret: {key.access_key_secret} (shown once)"
            )
