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
    media_type = (upload.content_type or "").split(";")[0].strip().lower()
    if media_type != CSV_TYPE:
        raise ServiceError(415, "unsupported_media_type",
                           f"upload a CSV file ({CSV_TYPE}); this part is {upload.content_type or 'untyped'}")
    data = bytearray()
    while chunk := await upload.read(READ_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise ServiceError(413, "content_too_large",
                               f"the file is larger than the limit of {max_bytes} bytes", limit=max_bytes)
    return bytes(data)


def invalid_csv(row: int, message: str) -> ServiceError:
    """Given: the 422 for a CSV that cannot be used; ``row`` 0 is the header, 1 the first data row."""
    where = "the header" if row == 0 else f"row {row}"
    return ServiceError(422, "invalid_csv", f"{where}: {message}", row=row)


def parse_iris_csv(data: bytes) -> list[list[float]]:  # Task 10.2
    """The rows of an iris CSV as lists of four floats, or a 422 ``invalid_csv`` naming the row.

    Row numbers count data rows from 1 (the header is row 0) and skip blank lines, so they match the
    ``row`` of the streamed predictions.
    """
    try:
        text = data.decode("utf-8-sig")  # -sig: Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise invalid_csv(0, "the file is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    rows: list[list[float]] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        if header != list(IRIS_FEATURES):
            found = ",".join(header) or "nothing"
            raise invalid_csv(0, f"expected the columns {','.join(IRIS_FEATURES)}, found {found}")
        for fields in reader:
            if not fields:
                continue  # a blank line
            number = len(rows) + 1
            if len(fields) != len(IRIS_FEATURES):
                raise invalid_csv(number, f"expected {len(IRIS_FEATURES)} values, found {len(fields)}")
            try:
                features = IrisFeatures.model_validate(dict(zip(IRIS_FEATURES, fields)))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise invalid_csv(number, f"{first['loc'][0]}: {first['msg']}") from None
            rows.append(features.as_row())
    except csv.Error as exc:  # a NUL byte, an unclosed quote, a field over csv's size limit
        raise invalid_csv(len(rows) + 1 if reader.line_num > 1 else 0, f"not valid CSV ({exc})") from None
    if not rows:
        raise invalid_csv(1, "the file has a header but no rows")
    return rows


def ndjson(obj: dict) -> bytes:
    """Given: one NDJSON line."""
    return json.dumps(obj).encode("utf-8") + b"\n"


def stream_predictions(entry: ModelEntry, rows: list[list[float]], chunk_rows: int) -> Iterator[bytes]:  # Task 10.2
    """Yield ``{"row": n, "label": ...}`` per row (n from 1), predicting ``chunk_rows`` at a time, then
    ``{"summary": {"model", "version", "rows", "counts"}}`` where counts maps each label to its rows."""
    counts: Counter[str] = Counter()
    for start in range(0, len(rows), chunk_rows):
        labels = entry.predict_labels(rows[start:start + chunk_rows])
        for offset, label in enumerate(labels):
            counts[label] += 1
            yield ndjson({"row": start + offset + 1, "label": label})
    yield ndjson({"summary": {"model": entry.name, "version": entry.version, "rows": len(rows),
                              "counts": dict(counts)}})
