"""What checks and notebooks import: the check-side helpers (as ``labkit`` is what lab code imports).

* :mod:`~workbook.checkkit.student` — import the student's lab modules (``import_lab_module``, ``lab_attr``) so a
  broken file reads as an import error that names it;
* :mod:`~workbook.checkkit.checking` — ``raises``, ``settle``, ``unawaited``: failures as plain sentences;
* :mod:`~workbook.checkkit.clients` — in-process clients for an app (sync ``TestClient``, async with lifespan);
* :mod:`~workbook.checkkit.asgi_recorder` — call an app the way a server does and record when each piece left;
* :mod:`~workbook.checkkit.model_calls` — count a model's ``predict`` calls (no timing where a count will do);
* :mod:`~workbook.checkkit.event_loop` — prove that slow work runs off the event loop (a held call and a probe);
* :mod:`~workbook.checkkit.bad_input` — hostile requests for every operation of an app's OpenAPI (``test_no_500``);
* :mod:`~workbook.checkkit.constant_time` — whether a key is compared in constant time;
* :mod:`~workbook.checkkit.server`, :mod:`~workbook.checkkit.loadtest` — a real server on 127.0.0.1, and load on it;
* :mod:`~workbook.checkkit.dockerfile` — read a Dockerfile's rules without a Docker engine;
* :mod:`~workbook.checkkit.notebook` — ``your_code()``: an unfinished task prints one line in a notebook.

Lab code (``labs/``, ``solutions/``) never imports these; the grader plugin (:mod:`workbook.grader.plugin`) does.
"""
