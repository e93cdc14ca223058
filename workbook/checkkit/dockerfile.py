"""A small Dockerfile reader, enough to check the lab 10 image's rules without a Docker engine.

``parse(text)`` gives the instructions in order, with line continuations joined and comments dropped;
``exec_form(args)`` reads the JSON-list form of ``CMD``/``ENTRYPOINT``/``HEALTHCHECK CMD``;
``service_image_problems`` lists what breaks the rules of the service's image (deploy/Dockerfile). It does
not expand variables or evaluate anything: the checks look at what the file says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")
ROOT_USERS = {"root", "0"}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, CMD, ...
    args: str  # everything after the keyword, continuations joined with a space
    line: int  # 1-based line where the instruction starts


class DockerfileError(ValueError):
    """The text cannot be read as a Dockerfile."""


def parse(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue  # blank lines, comments and parser directives between instructions
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction is dropped too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = joined.partition(" ")
        if not re.fullmatch(r"[A-Za-z]+", keyword):
            raise DockerfileError(f"line {start}: {keyword!r} is not an instruction")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    if pending:
        raise DockerfileError("the file ends inside a continued line (a trailing backslash)")
    return instructions


def parse_file(path: Path) -> list[Instruction]:
    return parse(Path(path).read_text(encoding="utf-8"))


def exec_form(args: str) -> list[str] | None:
    """The list of a JSON-array (exec form) argument, or None for the shell form."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None  # Docker itself runs a malformed JSON list as a shell command
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    return None


def flags_and_rest(args: str) -> tuple[dict[str, str], str]:
    """``--interval=30s --timeout=3s CMD [...]`` -> ({"interval": "30s", "timeout": "3s"}, "CMD [...]")."""
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return flags, rest


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The instructions split into build stages, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def service_image_problems(instructions: list[Instruction]) -> list[str]:
    """What a Dockerfile for the lab 10 service gets wrong, as sentences (empty when it follows every rule):
    FROM first; every base a pinned Python 3.11 image (or an earlier stage); in the final stage a USER that
    is not root before the CMD, an EXPOSE, a HEALTHCHECK and a CMD both in exec form."""
    problems = []
    if not instructions or instructions[0].keyword != "FROM":
        problems.append("the first instruction must be FROM")
    found_stages = stages(instructions)
    names = set()
    for stage in found_stages:
        _, rest = flags_and_rest(stage[0].args)  # FROM [--platform=...] image [AS name]
        image, *alias = rest.split()
        if image not in names and not PINNED_PYTHON.match(image):
            problems.append(
                f"line {stage[0].line}: FROM {image} — use a pinned Python 3.11 image, "
                "python:3.11.<patch>[-variant], never a moving tag like python:3.11 or latest"
            )
        if len(alias) == 2 and alias[0].upper() == "AS":
            names.add(alias[1])  # a later FROM may start from this stage
    final = found_stages[-1] if found_stages else []
    users = [i for i in final if i.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in ROOT_USERS:
        problems.append("the final stage must switch to a user that is not root (USER service)")
    if not any(i.keyword == "EXPOSE" for i in final):
        problems.append("the final stage should EXPOSE the port the service listens on")
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    if not checks or exec_form(flags_and_rest(checks[-1].args)[1].removeprefix("CMD").strip()) is None:
        problems.append("the final stage needs a HEALTHCHECK whose CMD is in exec form (a JSON list)")
    cmds = [i for i in final if i.keyword == "CMD"]
    if not cmds or exec_form(cmds[-1].args) is None:
        problems.append("CMD must be in exec form, a JSON list, so the server is PID 1 and gets SIGTERM")
    elif users and cmds[-1].line < users[-1].line:
        problems.append("USER must come before CMD")
    return problems
