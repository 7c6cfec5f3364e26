"""Every command line in notebook 08 is one the CLI accepts (parsed, never run), so a renamed option breaks a test.

Found in the notebook's source (notebooks/08_gpu_training.py): in markdown, lines starting with
``fomm-teach``, ``python -m fomm_teach`` or ``torchrun`` (also after ``!`` or ``$``); in code cells,
string literals (f-strings too, their ``{...}`` parts replaced by "8") that start with
``fomm-teach``. ``fomm_teach``'s own parser checks the subcommand and its options; torchrun's
options are checked by torchrun's parser.
"""

import ast
import re
import shlex
from pathlib import Path

import pytest

from fomm_teach.cli import build_parser

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "08_gpu_training.py"
STARTS = ("fomm-teach ", "python -m fomm_teach ", "torchrun ")
PLACEHOLDER = "8"   # stands for an f-string's {...}: a path or a count ("8" passes every count's minimum)


def cells(text):
    """[(kind, source)] of a py:percent notebook: kind 'markdown' (comment marks removed) or 'code'."""
    found = []
    for block in re.split(r"^# %%", text, flags=re.MULTILINE)[1:]:
        header, _, body = block.partition("\n")
        if "[markdown]" in header:
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
            found.append(("markdown", body))
        else:
            found.append(("code", body))
    return found


def _string_value(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else PLACEHOLDER for part in node.values)
    return None


def command_lines(text):
    """Every command line of the notebook source `text`, as one string each."""
    commands = []
    for kind, body in cells(text):
        if kind == "markdown":
            for line in body.splitlines():
                line = line.strip().lstrip("!$ ").strip()
                if line.startswith(STARTS):
                    commands.append(line)
        else:
            tree = ast.parse(body)
            parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
            for node in ast.walk(tree):
                value = None if id(node) in parts else _string_value(node)   # an f-string's pieces: not whole strings
                if value and value.startswith(STARTS):
                    commands.append(value)
    return commands


def fomm_teach_arguments(command):
    """The arguments that fomm_teach's parser gets from `command`; torchrun's own options are checked here."""
    words = shlex.split(command)
    if words[0] == "fomm-teach":
        return words[1:]
    if words[:3] == ["python", "-m", "fomm_teach"]:
        return words[3:]
    if words[0] == "torchrun":
        from torch.distributed.run import get_args_parser

        launch = _parse(get_args_parser(), words[1:], command)
        assert launch.module and launch.training_script == "fomm_teach", f"{command}: torchrun must run -m fomm_teach"
        return list(launch.training_script_args)
    raise AssertionError(f"not a command line of the course: {command}")


def _parse(parser, arguments, command):
    try:
        return parser.parse_args(arguments)
    except SystemExit:
        raise AssertionError(f"the CLI refuses: {command}") from None


def check_command(command):
    """Raise AssertionError unless fomm-teach (and torchrun) accept `command`."""
    _parse(build_parser(), fomm_teach_arguments(command), command)


COMMANDS = command_lines(SOURCE.read_text(encoding="utf-8"))


def test_the_notebook_has_the_command_lines_of_every_kind():
    assert len(COMMANDS) >= 15, COMMANDS
    for start in STARTS:
        assert any(command.startswith(start) for command in COMMANDS), start
    for config in ("vox-256", "taichi-256", "mgif-256"):
        assert any(f"train --config {config}" in command for command in COMMANDS), config
    assert any(command.startswith("torchrun --nnodes=2") for command in COMMANDS)   # several machines


@pytest.mark.parametrize("command", COMMANDS)
def test_the_cli_accepts_the_command_line(command, capsys):
    check_command(command)


@pytest.mark.parametrize("command", [
    "fomm-teach train --config vox-256 --bogus-option",
    "fomm-teach train --config vox-256 --precision fp8",
    "fomm-teach check-datasets data/vox-png",
    "torchrun --nproc_per_node=4 --bogus -m fomm_teach train --config vox-256",
    "torchrun --nproc_per_node=4 -m fomm_teach train --config vox-256 --compiled",
    "python -m fomm_teach train --config vox-256 --workers many",
])
def test_a_wrong_command_line_is_refused(command, capsys):
    with pytest.raises(AssertionError, match="refuses"):
        check_command(command)


def test_code_cells_yield_their_command_strings_with_placeholders():
    text = '# %%\nshell(f"fomm-teach train --config {PATH} --out {RUN}")\nx = "fomm-teach"\n'
    assert command_lines(text) == [f"fomm-teach train --config {PLACEHOLDER} --out {PLACEHOLDER}"]
