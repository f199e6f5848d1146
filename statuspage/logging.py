"""Structured logs: one JSON object per line, carrying the request or task it was written for.

`LOG_FORMAT=json` (the default outside `make run`) makes every log line one JSON object:

    {"time": "2026-03-20T18:30:00.123Z", "level": "INFO", "logger": "statuspage.request",
     "message": "GET /pages/acme/ 200", "request_id": "3f0c...", ...}

The request id is set by `observability.RequestMiddleware` (an incoming X-Request-ID when it is sane, a new
one otherwise); the task id and name by Celery's task_prerun/task_postrun signals (`statuspage.celery`).
Both live in context variables, so threads of one process never see each other's ids.
"""

from __future__ import annotations

import json
import logging
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
task_name: ContextVar[str | None] = ContextVar("task_name", default=None)

# The attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_CONTEXT = ("request_id", "task_id", "task_name")


class ContextFilter(logging.Filter):
    """Copies the current request and task ids onto each record (None outside a request or task), so both
    the JSON and the text format can show them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task_id = task_id.get()
        record.task_name = task_name.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context ids that are
    set, any `extra=` fields, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _CONTEXT and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with the request or task id appended when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={value}" for name in _CONTEXT if (value := getattr(record, name, None)) is not None]
        return f"{line} [{' '.join(ids)}]" if ids else line
