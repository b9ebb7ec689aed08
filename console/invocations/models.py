from django.conf import settings
from django.db import models
from django.utils import timezone

from console.fleet.models import Instance
from console.iam.models import Account
from console.invocations import status as st


class Invocation(models.Model):
    """One run request (``t-...``) of a command on a set of instances."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invocations")
    region = models.CharField(max_length=64)
    command_id = models.CharField(max_length=40)
    command_name = models.CharField(max_length=128, blank=True)
    command_description = models.CharField(max_length=512, blank=True)
    command_type = models.CharField(max_length=32)
    command_content = models.TextField()
    working_dir = models.CharField(max_length=200, blank=True)
    username = models.CharField(max_length=255, blank=True)
    timeout = models.PositiveIntegerField(default=60)
    repeat_mode = models.CharField(max_length=20, default="Once")
    frequency = models.CharField(max_length=128, blank=True)
    parameters = models.JSONField(default=dict, blank=True)  # the values passed, as given
    enable_parameter = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # RepeatMode=Period: when the schedule runs next (console/invocations/schedule.py); None once it has no
    # run left (an at() that ran, a cron past its last year) or the task was stopped.
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # How a timeout or a stop kills the script: its process only, or the whole process tree.
    termination_mode = models.CharField(max_length=16, default="ProcessTree")
    # Run inside this container (docker or crictl on the instance) instead of on the host.
    container_id = models.CharField(max_length=64, blank=True)
    container_name = models.CharField(max_length=255, blank=True)
    # Rate control, beyond the original: a number ("10") or a percentage ("25%") of the targets; "" is
    # no limit. Past max_errors failed instances, the instances not yet started end Cancelled.
    max_concurrency = models.CharField(max_length=8, blank=True)
    max_errors = models.CharField(max_length=8, blank=True)
    # The command line that starts the script instead of the type's shell (assist_agent/launcher.py).
    launcher = models.CharField(max_length=1024, blank=True, default="")
    # How many instances the task runs on: the number of its ``latest`` results, kept by every write that
    # adds or removes one (creation, ModifyInvocationAttribute's added instances, retention), so that an
    # account-wide TotalCount adds up invocation rows instead of counting a million results
    # (DescribeInvocationResults, docs/performance.md section 4).
    instance_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # DescribeInvocations' account-wide TotalCount reads this index alone (its entries deduplicated,
            # no table row): 2.5 ms instead of 7 for a sequential scan at 20,000 invocations
            # (docs/performance.md, 2026-12-06).
            models.Index(fields=["account", "region"], name="invocation_account_region"),
        ]

    def __str__(self) -> str:
        return self.id


class InvocationResult(models.Model):
    """The state of one invocation on one instance. Its id is the task id the agent sees.

    A periodic task runs many times on each instance: every run (execution) is a row of its own, with a
    new id, so the agent sees a new task and the execution keeps its own output, status and ``repeats``
    (its run number). The instance's ``latest`` row is what Describe* and the pages show by default: the
    execution under way, or, between runs, a Scheduled row waiting for the next one; earlier executions
    are history (``latest`` false, listed by DescribeInvocationResults with IncludeHistory)."""

    id = models.CharField(primary_key=True, max_length=40)
    invocation = models.ForeignKey(Invocation, on_delete=models.CASCADE, related_name="results")
    # No database constraint: results outlive a deregistered instance and keep its id. No index of its own:
    # the indexes below start with it, and every fan-out writes this table.
    instance = models.ForeignKey(
        Instance, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # With parameters enabled, the script this instance runs (rendered for it); otherwise "" and the
    # instance runs the invocation's content.
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, default=st.PENDING, db_index=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_info = models.CharField(max_length=512, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    repeats = models.PositiveIntegerField(default=0)
    output_size = models.PositiveBigIntegerField(default=0)
    # Bytes of output not kept because the execution passed the output cap (ASSIST_MAX_OUTPUT_BYTES).
    output_dropped = models.PositiveBigIntegerField(default=0)
    # NextRebootOnly/EveryReboot: the instance's boot id when the row was armed; the run starts once the
    # agent says hello from another boot.
    boot_id = models.CharField(max_length=64, blank=True)
    # Rate control (MaxConcurrency): a Pending result waiting for a free slot of its invocation. It is not
    # delivered (nor timed out) until console/invocations/rate.py releases it.
    queued = models.BooleanField(default=False)
    # When the task last went out to its agent's connection (written before the frame is sent). A task
    # never sent ends Aborted/DeliveryTimeout; one sent may be running on the agent, so it waits for the
    # agent's word and ends only as unknown (services.results_end_unconfirmed), never as not run.
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    latest = models.BooleanField(default=True)

    class Meta:
        ordering = ["invocation_id", "instance_id"]
        indexes = [
            models.Index(fields=["instance", "status"]),
            # DescribeInvocationResults' newest-first pages (created_at, id) read 50 index entries,
            # not a sort of every result of the account (docs/performance.md, bench/api_latency.py).
            models.Index(fields=["created_at", "id"], name="result_newest_first"),
            # The same pages by InstanceId walk that instance's entries, not a join of every invocation.
            models.Index(fields=["instance", "created_at", "id"], name="result_instance_newest_first"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["invocation", "instance"],
                condition=models.Q(latest=True),
                name="result_unique_per_instance",
            )
        ]

    def __str__(self) -> str:
        return f"{self.invocation_id}/{self.instance_id}: {self.status}"


class OutputChunk(models.Model):
    """A numbered piece of a result's combined stdout and stderr, stored before anyone is told of it."""

    result = models.ForeignKey(InvocationResult, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["result_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["result", "seq"], name="chunk_unique_seq")]

    def __str__(self) -> str:
        return f"{self.result_id}#{self.seq}"
