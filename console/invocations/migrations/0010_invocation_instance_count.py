from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_latest_results(apps, schema_editor):
    Invocation = apps.get_model("invocations", "Invocation")
    InvocationResult = apps.get_model("invocations", "InvocationResult")
    latest = (
        InvocationResult.objects.filter(invocation=OuterRef("pk"), latest=True)
        .order_by()
        .values("invocation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Invocation.objects.update(instance_count=Coalesce(Subquery(latest), 0))


class Migration(migrations.Migration):
    dependencies = [
        ("invocations", "0009_launcher"),
    ]

    operations = [
        migrations.AddField(
            model_name="invocation",
            name="instance_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_latest_results, migrations.RunPython.noop),
    ]
