import json

from django.db import migrations


def ship_system_policies(apps, schema_editor):
    from console.iam.system_policies import SYSTEM_POLICIES

    Policy = apps.get_model("iam", "Policy")
    for name, (description, document) in SYSTEM_POLICIES.items():
        Policy.objects.update_or_create(
            account=None,
            name=name,
            defaults={
                "policy_type": "System",
                "description": description,
                "document": json.dumps(document, indent=2),
            },
        )


def remove_system_policies(apps, schema_editor):
    from console.iam.system_policies import SYSTEM_POLICIES

    apps.get_model("iam", "Policy").objects.filter(account=None, name__in=list(SYSTEM_POLICIES)).delete()


class Migration(migrations.Migration):
    dependencies = [("iam", "0002_policies_groups")]

    operations = [migrations.RunPython(ship_system_policies, remove_system_policies)]
