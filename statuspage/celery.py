"""The Celery app. Tasks are DjangoTasks (delay_on_commit); the beat schedule lives here, in code."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "statuspage.settings")

app = Celery("statuspage", task_cls="celery.contrib.django.task:DjangoTask")
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
        # move at midnight in each page's zone) or missing; cheap when nothing is due.
        "refresh-stale-snapshots": {"task": "statuspage.tasks.refresh_stale_snapshots", "schedule": 60.0},
        # The update cadence: reminders before an update is due, escalations when it is overdue.
        "check-cadence": {"task": "incidents.tasks.check_cadence", "schedule": 30.0},
        # Maintenance: recurring windows expanded ahead, reminders, automatic start and completion.
        "run-maintenance-clock": {"task": "incidents.tasks.run_maintenance_clock", "schedule": 30.0},
        # Deliveries: resume those a dead worker left behind, retry those due, fan out missed events.
        "resume-deliveries": {"task": "subscribers.tasks.resume_deliveries", "schedule": 30.0},
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
