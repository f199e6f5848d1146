"""The Celery app. Tasks are DjangoTasks (delay_on_commit); the beat schedule lives here, in code."""

import os

from celery import Celery
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statuspage.settings")


class Task(DjangoTask):
    """DjangoTask whose on-commit enqueue survives a broker outage: the transaction has committed, so the
    failure is logged (statuspage.outage.enqueue_after_commit) and the beat sweepers pick the work up from
    the database, instead of the request failing after its rows were saved."""

    def delay_on_commit(self, *args, **kwargs) -> None:
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, *args, **kwargs) -> None:
        from django.db import transaction

        from statuspage.outage import enqueue_after_commit

        def enqueue() -> None:
            enqueue_after_commit(lambda: self.apply_async(*args, **kwargs), self.name)

        transaction.on_commit(enqueue)


def _sweep_seconds() -> float:
    """SWEEP_SECONDS: how often beat runs the sweepers (30 by default; the snapshot sweep runs at twice
    that). Shorter means faster catch-up after an outage or a killed worker, for a little more idle work;
    the outage drill and its test run at 2."""
    raw = os.environ.get("SWEEP_SECONDS", "").strip() or "30"
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0.5 <= value <= 3600:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"SWEEP_SECONDS={raw!r} must be a number of seconds from 0.5 to 3600")
    return value


SWEEP = _sweep_seconds()

app = Celery("statuspage", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_routes={
        "statuspage.tasks.*": {"queue": "publish"},
        "subscribers.tasks.*": {"queue": "deliver"},
        "incidents.tasks.*": {"queue": "time"},
        "components.tasks.*": {"queue": "time"},
    },
    beat_schedule={
        # Snapshot freshness: re-render every page whose snapshot is older than its day (uptime bars
        # move at midnight in each page's zone), missing, or behind its audit trail (a publish lost to a
        # broker outage or a killed worker); cheap when nothing is due.
        "refresh-stale-snapshots": {
            "task": "statuspage.tasks.refresh_stale_snapshots",
            "schedule": 2 * SWEEP,
        },
        # The update cadence: reminders before an update is due, escalations when it is overdue.
        "check-cadence": {"task": "incidents.tasks.check_cadence", "schedule": SWEEP},
        # Maintenance: recurring windows expanded ahead, reminders, automatic start and completion.
        "run-maintenance-clock": {"task": "incidents.tasks.run_maintenance_clock", "schedule": SWEEP},
        # Deliveries: resume those a dead worker left behind, retry those due, fan out missed events.
        "resume-deliveries": {"task": "subscribers.tasks.resume_deliveries", "schedule": SWEEP},
    },
)
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    """The filesystem transport (no REDIS_URL) needs its folders before the first message."""
    from pathlib import Path

    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        folder = (sender.conf.broker_transport_options or {}).get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


# --- Logs: Django's LOGGING in the worker too, with the task's id and name on every line -------------------

from celery import signals  # noqa: E402


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    """Connected, this stops Celery replacing the root logger's handlers: the worker and beat log through
    settings.LOGGING (JSON lines by default), like the web processes."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _bind_task_to_logs(task_id=None, task=None, **kwargs):
    from statuspage import logging as structured

    structured.task_id.set(task_id)
    structured.task_name.set(getattr(task, "name", None))


@signals.task_postrun.connect
def _unbind_task_from_logs(**kwargs):
    from statuspage import logging as structured

    structured.task_id.set(None)
    structured.task_name.set(None)
