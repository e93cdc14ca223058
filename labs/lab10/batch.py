"""Lab 10, Task 10.2 — batch predictions from an uploaded CSV, streamed back one line per row.

Read notebooks/10_production.ipynb, section 10.2. ``POST /predict/{model_name}/batch`` takes a
multipart upload (field ``file``) of iris rows for a tabular model::

    sepal_length,sepal_width,petal_length,petal_width
    5.1,3.5,1.4,0.2
    ...

and answers ``application/x-ndjson``: one JSON object per line, in row order, then a summary::

    {"row": 1, "label": "setosa"}
    {"row": 2, "label": "setosa"}
    ...
    {"summary": {"model": "random_forest", "version": "3f2a…", "rows": 150,
                 "counts": {"setosa": 50, "versicolor": 50, "virginica": 50}}}

Once the first line is sent the status (200) cannot change any more, so **every check happens before
streaming starts**: the file's type, its size, every row. Each failure is a ``ServiceError`` (Task 10.1
turns it into the JSON error body) — never a 500, never half a stream:

* ``read_csv_upload``: 415 ``unsupported_media_type`` unless the part's content type is ``text/csv``
  (parameters such as ``; charset=utf-8`` allowed); 413 ``content_too_large`` as soon as more than
  ``max_bytes`` have been read — read in chunks and stop there, do not read the rest.
* ``parse_iris_csv``: 422 ``invalid_csv`` with ``row`` (1 = the first data row, 0 = the header) for an
  empty or non-UTF-8 file, a header that is not exactly the four feature names, a row with the wrong
  number of fields, a value that is not a number, or a measurement out of range (``IrisFeatures``).
* ``stream_predictions``: a generator of NDJSON lines (bytes ending in ``\\n``) that predicts
  ``chunk_rows`` rows per call to the model — one call per row is slow, one call for all rows shows
  no progress — and yields each row's line, then the summary line.

Check your work with ``pytest checks/lab10 -k batch``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator

from fastapi import UploadFile
from pydantic import ValidationError

from labkit.datasets import IRIS_FEATURES

from .errors import ServiceError
from .registry import ModelEntry
from .schemas import IrisFeatures

CSV_TYPE = "text/csv"
READ_CHUNK = 64 * 1024


async def read_csv_upload(upload: UploadFile, max_bytes: int) -> bytes:  # Task 10.2
    """The uploaded file's bytes: 415 unless it is ``text/csv``, 413 past ``max_bytes`` (stop reading)."""
    raise NotImplementedError("Task 10.2: Batch predictions from a CSV upload, streamed")


def invalid_csv(row: int, message: str) -> ServiceError:
    """Given: the 422 for a CSV that cannot be used; ``row`` 0 is the header, 1 the first data row."""
    where = "the header" if row == 0 else f"row {row}"
    return ServiceError(422, "invalid_csv", f"{where}: {message}", row=row)


def parse_iris_csv(data: bytes) -> list[list[float]]:  # Task 10.2
    """The rows of an iris CSV as lists of four floats, or a 422 ``invalid_csv`` naming the row.

    Row numbers count data rows from 1 (the header is row 0) and skip blank lines, so they match the
    ``row`` of the streamed predictions.
    """
    raise NotImplementedError("Task 10.2: Batch predictions from a CSV upload, streamed")


def ndjson(obj: dict) -> bytes:
    """Given: one NDJSON line."""
    return json.dumps(obj).encode("utf-8") + b"\n"


def stream_predictions(entry: ModelEntry, rows: list[list[float]], chunk_rows: int) -> Iterator[bytes]:  # Task 10.2
    """Yield ``{"row": n, "label": ...}`` per row (n from 1), predicting ``chunk_rows`` at a time, then
    ``{"summary": {"model", "version", "rows", "counts"}}`` where counts maps each label to its rows."""
    raise NotImplementedError("Task 10.2: Batch predictions from a CSV upload, streamed")
    yield  # unreachable: keeps this function a generator, as in the finished version
