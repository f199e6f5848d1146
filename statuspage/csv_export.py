"""CSV downloads (the audit log, the subscriber list): streamed, and safe to open in a spreadsheet.

A cell a spreadsheet would evaluate (one starting with = + - @, a tab or a carriage return) is written with
a leading apostrophe, in every column: subscribers' addresses and component names are as foreign as audit
actors. `restore` undoes it for our own importer, so an export imports back unchanged."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

FORMULA_STARTS = "=+-@\t\r"


def neutralise(value):
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def restore(value):
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


class _Echo:
    """A file that hands back what is written to it, so csv.writer yields lines to stream."""

    def write(self, value):
        return value


def csv_response(rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([neutralise(cell) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
