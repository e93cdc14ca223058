"""What ``make lab``'s JupyterLab runs of the workbook's own (``.jupyter/jupyter_server_config.json`` names it).

``checks/`` and ``data/`` are shown for reading: the checks say exactly what is expected, the data is what the
labs train on. A save into them from the browser is refused with a message, so a stray edit cannot quietly change
what grades you (the checks your instructor runs are their own copy anyway). Your work goes in ``labs/``; the
notebooks are yours to run and save.
"""

from __future__ import annotations

from tornado.web import HTTPError

READ_ONLY = ("checks", "data")


def refuse_saving_into_read_only_folders(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """JupyterLab's ``pre_save_hook``: an ``HTTPError`` rejects the save and JupyterLab shows its message."""
    top = path.strip("/").split("/", 1)[0]
    if top in READ_ONLY:
        raise HTTPError(
            403,
            f"{top}/ is there to read, not to change: your work goes in labs/ (and the notebooks). "
            f"{path} was not saved.",
        )
