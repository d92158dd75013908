"""A README's ```bash blocks as tests: found in the Markdown, run as written in one bash per block, the
first command that fails named by its README line.

A block is run unless the line right above its fence is ``<!-- not run by tests/e2e/test_readme.py: WHY -->``
(the README says why, so which blocks are skipped is read from the README, not kept in a test). A command is
a line, with the lines it continues (a trailing ``\\``, ``&&``, ``||`` or ``|``); each is checked on its own,
since ``set -e`` lets ``a && b`` fail silently when ``a`` fails. Placeholders are replaced word for word by a
table the test passes in, which must all be used (a stale entry fails, like a stale block).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NOT_RUN = re.compile(r"^<!--\s*not run by tests/e2e/test_readme\.py:\s*(?P<why>\S.*?)\s*-->\s*$")
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
# What names a block: the heading above it, or a paragraph that opens with a bold title ("**The whole loop…**").
_HEADING = re.compile(r"^(#{1,6}\s+(?P<title>.+?)|\*\*(?P<bold>[^*]+?):?\*\*.*?)\s*$")
_CONTINUED = re.compile(r"(\\|&&|\|\||\|)\s*$")
_OUTPUT_TAIL = 60  # lines of a failing block's output in the message


@dataclass(frozen=True)
class Command:
    line: int   # the README line it starts on (1-based)
    text: str   # as written, continuation lines included


@dataclass(frozen=True)
class Block:
    path: Path
    line: int                  # the opening fence's line
    section: str               # the heading (or bold title) above it
    commands: tuple[Command, ...]
    not_run: str | None        # why not, when the README marks it

    @property
    def name(self) -> str:
        return f"{self.path.name} line {self.line} ({self.section!r})"


def bash_blocks(readme: Path) -> list[Block]:
    """Every ```bash block of ``readme``, in order."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    section, index = "top", 0
    while index < len(lines):
        heading, fence = _HEADING.match(lines[index]), _FENCE.match(lines[index])
        if heading and not fence:
            section = heading.group("title") or heading.group("bold")
        if not fence:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{readme.name} line {index + 1}: a ``` fence that never closes")
        if fence.group("lang") == "bash":
            mark = NOT_RUN.match(lines[index - 1]) if index else None
            blocks.append(Block(readme, index + 1, section, _commands(lines, index + 1, end),
                                mark.group("why") if mark else None))
        index = end + 1
    return blocks


def _commands(lines: list[str], first: int, end: int) -> tuple[Command, ...]:
    """The commands of lines[first:end] (0-based; README lines first+1…): comment-only and blank lines
    dropped, continued lines joined."""
    commands: list[Command] = []
    pending: list[str] = []
    start = first
    for i in range(first, end):
        text = lines[i]
        if not pending and (not text.strip() or text.lstrip().startswith("#")):
            continue
        if not pending:
            start = i
        pending.append(text)
        if not _CONTINUED.search(_without_comment(text)):
            commands.append(Command(start + 1, "\n".join(pending)))
            pending = []
    if pending:
        commands.append(Command(start + 1, "\n".join(pending)))
    return tuple(commands)


def _without_comment(text: str) -> str:
    """``text`` without a trailing ``# comment`` (a ``#`` after whitespace, outside quotes)."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text.rstrip()


def substitute(text: str, table: Mapping[str, str], used: set[str]) -> str:
    """``text`` with each whole-word key of ``table`` replaced; the keys found go to ``used``."""
    for key, value in table.items():
        pattern = re.compile(rf"(?<![\w/.-]){re.escape(key)}(?![\w])")
        if pattern.search(text):
            used.add(key)
            text = pattern.sub(value.replace("\\", r"\\"), text)
    return text


def script(block: Block, table: Mapping[str, str], used: set[str], failed: Path) -> str:
    """The bash script of ``block``: each command echoed, run, and its exit status checked; the first that
    fails writes its README line and status to ``failed`` and ends the script with that status."""
    parts = ["set -o pipefail"]
    for command in block.commands:
        text = substitute(command.text, table, used)
        parts += [f"printf '\\n$ %s\\n' {shlex.quote(text)}", text,
                  f"__rc=$?; if [ $__rc -ne 0 ]; then echo \"{command.line} $__rc\" > {shlex.quote(str(failed))}; "
                  "exit $__rc; fi"]
    return "\n".join(parts) + "\n"


def run_block(block: Block, cwd: Path, env: Mapping[str, str], table: Mapping[str, str], used: set[str],
              scratch: Path, timeout: float) -> str:
    """Run ``block`` in ``cwd``; its output, or an AssertionError naming the block, the command's README line
    and text, its exit status and the output's tail. What the block leaves running (a server started with
    ``&``) is stopped with its process group."""
    scratch.mkdir(parents=True, exist_ok=True)
    stem = f"block-{block.line}"
    failed, log = scratch / f"{stem}.failed", scratch / f"{stem}.log"
    failed.unlink(missing_ok=True)
    body = script(block, table, used, failed)
    (scratch / f"{stem}.sh").write_text(body)
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "--noprofile", "--norc", str(scratch / f"{stem}.sh")], cwd=cwd,
                                   env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop_group(process)
    output = log.read_text(errors="replace")
    if code == 0:
        return output
    tail = "\n".join(output.splitlines()[-_OUTPUT_TAIL:])
    if code is None:
        raise AssertionError(f"{block.name} did not finish within {timeout:.0f} s; its output ends:\n{tail}")
    line, _, status = failed.read_text().partition(" ") if failed.exists() else ("?", "", str(code))
    command = next((c for c in block.commands if str(c.line) == line), None)
    written = command.text if command else "(not a command of the block: the script itself failed)"
    ran = substitute(written, table, set())
    shown = written if ran == written else f"{written}\n  run as: {ran}"
    raise AssertionError(f"{block.name}: the command at README line {line} exited {status.strip()}:\n  {shown}\n"
                         f"its output ends:\n{tail}")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to what is left of the block's process group (its own session), each given
    15 s to be gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=15)  # the script itself, reaped: a zombie leader would keep the group alive
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + 15
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _group_alive(process.pid):
            break
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
