from django.core.management.base import BaseCommand

from console.releases import signing


class Command(BaseCommand):
    help = "Print the console's release public key (PEM), as served at /agent/release-key.pub."

    def handle(self, *args, **options):
        self.stdout.write(signing.public_key_pem().rstrip("\n"))
