from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("invocations", "0007_termination_default"),
    ]

    operations = [
        migrations.AddField(
            model_name="invocationresult",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
