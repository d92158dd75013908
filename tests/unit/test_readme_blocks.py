"""The README harness itself (tests/support/readme.py): which blocks it runs, how it splits them into
commands, and that a failing command is named by its README line, even inside ``a && b``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.readme import bash_blocks, run_block, substitute

README = """# Tool

<!-- not run by tests/e2e/test_readme.py: it needs a cluster -->
```bash
kubectl apply -f job.yaml
```

## Section
**The loop:** in order
```bash
# a comment line
echo one > one.txt      # a trailing comment
false && echo never     # fails: a && list
echo two > two.txt
```

```python
print("not bash")
```

## Long
```bash
printf '%s\\n' a \\
    b |
  sort > sorted.txt && echo REPO
sleep 300 & echo $! > sleep.pid
echo "# not a comment" > hash.txt
```
"""


@pytest.fixture
def readme(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(README)
    return path


def test_bash_blocks_are_read_with_their_line_section_commands_and_mark(readme):
    marked, loop, long = bash_blocks(readme)
    assert (marked.line, marked.not_run, marked.section) == (4, "it needs a cluster", "Tool")
    assert loop.not_run is None and loop.section == "The loop" and loop.line == 10
    assert [(c.line, c.text) for c in loop.commands] == [
        (12, "echo one > one.txt      # a trailing comment"), (13, "false && echo never     # fails: a && list"),
        (14, "echo two > two.txt")]
    assert long.section == "Long" and [c.line for c in long.commands] == [23, 26, 27]
    assert long.commands[0].text.endswith("sort > sorted.txt && echo REPO")


def test_the_first_failing_command_is_named_by_its_readme_line_and_the_rest_does_not_run(readme, tmp_path):
    loop = bash_blocks(readme)[1]
    with pytest.raises(AssertionError) as failed:
        run_block(loop, tmp_path, os.environ, {}, set(), tmp_path / "logs", timeout=30)
    message = str(failed.value)
    assert message.startswith("README.md line 10 ('The loop'): the command at README line 13 exited 1:")
    assert "false && echo never" in message and "$ echo one > one.txt" in message  # the output so far
    assert (tmp_path / "one.txt").exists() and not (tmp_path / "two.txt").exists()


def test_placeholders_are_replaced_as_whole_words_and_servers_left_running_are_stopped(readme, tmp_path):
    long = bash_blocks(readme)[2]
    used: set[str] = set()
    output = run_block(long, tmp_path, os.environ, {"REPO": "/the/project", "absent": "x"}, used, tmp_path / "logs",
                       timeout=30)
    assert "/the/project" in output and used == {"REPO"}
    assert (tmp_path / "sorted.txt").read_text() == "a\nb\n"
    assert (tmp_path / "hash.txt").read_text() == "# not a comment\n"
    assert not Path(f"/proc/{(tmp_path / 'sleep.pid').read_text().strip()}").exists()  # stopped with the block


def test_substitution_leaves_longer_words_and_paths_alone():
    used: set[str] = set()
    assert substitute("git clone REPO elsewhere && cd elsewhere", {"elsewhere": "../x"}, used) == \
        "git clone REPO ../x && cd ../x"
    assert substitute("REPOSITORY ./REPO", {"REPO": "/p"}, set()) == "REPOSITORY ./REPO"
