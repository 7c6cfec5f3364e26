"""Build the course's ``.ipynb`` files from their py:percent sources.

Usage (from the repository root)::

    python tools/build_notebooks.py           # (re)write every notebook
    python tools/build_notebooks.py --check   # write nothing; exit 1 naming each file that drifted

For each ``notebooks/NN_topic.py`` it writes, without outputs and with a ``python3`` kernelspec:

- ``notebooks/NN_topic.ipynb``: the instructor notebook (solutions run);
- ``notebooks/student/NN_topic.ipynb``: the student notebook, where every ``solution`` cell is
  replaced by a markdown cell holding the code inside a collapsed ``<details>`` block.

Both get an "Open in Colab" badge after the title and a setup cell that installs this package only
when running on Colab. Cells tagged ``helper`` are collapsed; cells tagged ``gpu`` start with the
``%%gpu`` cell magic (registered by ``fomm_teach.course.start``) so they run only on a GPU.
Cell ids are derived from the cell's content, so building twice gives identical bytes.

Before writing anything the build guard checks every exercise: an ``exercise`` stub raises
``NotImplementedError`` and is followed by a ``solution`` defining the same names with the same
signatures, which is followed by a check cell of the form ``name = checks.check_name(name)``
(``fomm_teach/checks.py`` explains why it has that form).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re
import sys
from pathlib import Path

import nbformat
from nbformat import v4

if __package__ in (None, ""):  # run as ``python tools/build_notebooks.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fomm_teach import __version__
from fomm_teach.errors import FommTeachError
from tools.notebook_source import run_generator, TAGS, cell_label, notebook_sources, read_notebook, relative, tags

# The GitHub repository (OWNER/NAME) that the Colab badges and install cell point to: the one
# place to change it (tests/test_packaging.py finds every other mention, in README.md, pyproject.toml
# and CITATION.cff, and fails until they agree). A fork sets it and runs `make notebooks`.
REPOSITORY = "fomm-teach/fomm_teach"
# Badges open, and the install cell installs, the release tag of the package version these
# notebooks were built with, never a moving branch, so notebook and library always match.
RELEASE_TAG = f"v{__version__}"

# The notebook metadata is exactly what JupyterLab writes when the kernel connects (the kernel's
# spec and its kernel_info reply), so a notebook does not open "dirty" (unsaved changes): JupyterLab
# replaces both keys on connecting and marks the notebook changed unless they are equal. The one
# part that depends on the machine is the Python version: PYTHON_VERSION is the course machines'
# python3 (the one `make lab` and CI use; binder/runtime.txt pins the same minor version). Under
# another Python a notebook is marked changed once its kernel starts, as any notebook is.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
PYTHON_VERSION = "3.11.7"
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": PYTHON_VERSION,
}
CHECK_CALL = re.compile(r"\bchecks\.check_\w+\s*\(")
# Tags understood by other tools that a source may use besides the course vocabulary.
FOREIGN_TAGS = re.compile(r"^(nbval-[a-z-]+|raises-exception)$")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

COLAB_SETUP = f'''\
#@title Colab setup: installs this course's package (click ▶; does nothing outside Colab) {{ display-mode: "form" }}
# Installs fomm_teach {__version__} (git tag {RELEASE_TAG}), the version this notebook was built with.
# Colab's own torch and ipywidgets are kept (the package asks for torch>=2.1, ipywidgets>=7.7).
REPOSITORY = "{REPOSITORY}"  #@param {{type:"string"}}
import subprocess
import sys

if "google.colab" in sys.modules:
    _install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet",
         f"fomm_teach @ git+https://github.com/{{REPOSITORY}}@{RELEASE_TAG}"],
        capture_output=True, text=True,
    )
    if _install.returncode != 0:
        print(_install.stdout[-3000:], _install.stderr[-3000:], sep="\\n")
        raise RuntimeError(
            f"Could not install fomm_teach from https://github.com/{{REPOSITORY}} at tag {RELEASE_TAG} "
            "(pip's messages are above). If you opened this notebook from a fork or a renamed repository, "
            "put its OWNER/NAME (what follows github.com/ in the address you opened) into REPOSITORY "
            "in this cell's form and run the cell again; that repository needs the tag {RELEASE_TAG}."
        )'''


# --- the build guard ----------------------------------------------------------------------------


def _definitions(code: str, where: str) -> dict[str, ast.AST]:
    """The top-level function and class definitions of a cell, by name."""
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise FommTeachError(f"{where}: syntax error on line {err.lineno}: {err.msg}") from err
    return {node.name: node for node in tree.body if isinstance(node, DEFINITIONS)}


def _signature(node: ast.AST) -> str:
    """``def name(args) -> returns`` for a function; ``class name(bases)`` for a class."""
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}({', '.join(ast.unparse(base) for base in node.bases)})"
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _compare_signatures(stub: str, solution: str, stub_where: str, solution_where: str) -> None:
    """Every function or class the stub defines exists in the solution with the same signature.

    For a class, its bases and every method the stub spells out must match (a class stub may
    leave out methods the learner does not write).
    """
    stub_defs = _definitions(stub, stub_where)
    solution_defs = _definitions(solution, solution_where)
    if not stub_defs:
        raise FommTeachError(f"{stub_where}: an exercise stub must define a function or class.")
    for name, stub_node in stub_defs.items():
        if name not in solution_defs:
            raise FommTeachError(
                f"{solution_where}: the solution does not define {name!r}, which the stub at {stub_where} defines."
            )
        pairs = [(stub_node, solution_defs[name])]
        if isinstance(stub_node, ast.ClassDef) and isinstance(solution_defs[name], ast.ClassDef):
            solution_methods = {item.name: item for item in solution_defs[name].body if isinstance(item, DEFINITIONS)}
            for item in stub_node.body:
                if isinstance(item, DEFINITIONS):
                    pairs.append((item, solution_methods.get(item.name)))
        for stub_item, solution_item in pairs:
            expected = _signature(stub_item)
            found = _signature(solution_item) if solution_item is not None else "nothing of that name"
            if found != expected:
                raise FommTeachError(
                    f"{solution_where}: signature mismatch: the stub at {stub_where} has `{expected}`, "
                    f"the solution has `{found}`."
                )


def check_exercises(notebook: nbformat.NotebookNode, source: str) -> None:
    """The build guard: raise FommTeachError naming the notebook and cell of the first problem.

    Rules: tags come from the course vocabulary; an ``exercise`` stub raises
    ``NotImplementedError`` and its next code cell is a ``solution`` with the same signatures;
    the code cell after a ``solution`` is a check cell with a line ``name = checks.check_<name>(name)``
    for a name the solution defines (it rebinds the name, so the cells below get the learner's
    function if it passed and the library's fallback if not; the fallback remembers the learner's
    function, so running the check again judges it again); every ``solution`` follows an ``exercise``.
    """
    code_cells = [(number, cell) for number, cell in enumerate(notebook.cells, start=1) if cell.cell_type == "code"]
    for number, cell in enumerate(notebook.cells, start=1):
        unknown = sorted(tag for tag in tags(cell) if tag not in TAGS and not FOREIGN_TAGS.match(tag))
        if unknown:
            raise FommTeachError(
                f"{cell_label(source, number)}: unknown tag(s) {unknown}; the course uses {sorted(TAGS)}."
            )
        if cell.cell_type != "code" and tags(cell) & {"exercise", "solution"}:
            raise FommTeachError(f"{cell_label(source, number)}: only code cells can be 'exercise' or 'solution'.")
    for position, (number, cell) in enumerate(code_cells):
        where = cell_label(source, number)
        following = code_cells[position + 1] if position + 1 < len(code_cells) else None
        if "exercise" in tags(cell):
            if "solution" in tags(cell):
                raise FommTeachError(f"{where}: a cell cannot be both 'exercise' and 'solution'.")
            if "NotImplementedError" not in cell.source:
                raise FommTeachError(f"{where}: an exercise stub must raise NotImplementedError.")
            if following is None or "solution" not in tags(following[1]):
                raise FommTeachError(f"{where}: exercise without a solution: the next code cell must be tagged 'solution'.")
            _compare_signatures(cell.source, following[1].source, where, cell_label(source, following[0]))
        if "solution" in tags(cell):
            previous = code_cells[position - 1][1] if position > 0 else None
            if previous is None or "exercise" not in tags(previous):
                raise FommTeachError(f"{where}: solution without an exercise: the code cell before it must be tagged 'exercise'.")
            if following is None or tags(following[1]) & {"exercise", "solution"} or not CHECK_CALL.search(following[1].source):
                raise FommTeachError(
                    f"{where}: solution without a check: the next code cell must call checks.check_<name>(...)."
                )
            names = _definitions(cell.source, where)
            if not any(re.search(rf"\b{re.escape(name)}\b", following[1].source) for name in names):
                raise FommTeachError(
                    f"{cell_label(source, following[0])}: the check after the solution at {where} does not "
                    f"mention {' or '.join(sorted(names))}; pass the learner's function to its checker."
                )
            if not any(_check_line(name).search(following[1].source) for name in names):
                name = sorted(names)[0]
                raise FommTeachError(
                    f"{cell_label(source, following[0])}: the check after the solution at {where} must rebind "
                    f"the name it checks, on a line of its own: `{name} = checks.check_{name}({name})`."
                )


def _check_line(name: str) -> re.Pattern:
    """A check cell's line ``name = checks.check_<anything>(name)``."""
    return re.compile(rf"^{re.escape(name)}\s*=\s*checks\.check_\w+\(\s*{re.escape(name)}\s*\)\s*(#.*)?$",
                      re.MULTILINE)


# --- building -----------------------------------------------------------------------------------


def _fence(code: str) -> str:
    """A backtick fence longer than any run of backticks inside ``code``."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def solution_block(code: str) -> str:
    """The student notebook's stand-in for a solution cell: the code in a collapsed ``<details>``."""
    fence = _fence(code)
    return (
        "<details>\n<summary><b>Solution</b> (open it after you have tried the exercise)</summary>\n\n"
        f"{fence}python\n{code.rstrip()}\n{fence}\n\n</details>"
    )


def _badge(notebook_path: str) -> str:
    url = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{RELEASE_TAG}/{notebook_path}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def _new_cell(cell_type: str, source: str, metadata: dict) -> nbformat.NotebookNode:
    maker = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell, "raw": v4.new_raw_cell}[cell_type]
    cell = maker(source=source, metadata=metadata)
    cell.pop("id", None)  # assigned from the content in _assign_ids
    return cell


def _converted(cell: nbformat.NotebookNode, student: bool) -> nbformat.NotebookNode:
    """One source cell as it appears in the instructor or the student notebook."""
    cell_tags = sorted(tags(cell))
    metadata: dict = {"tags": cell_tags} if cell_tags else {}
    if cell.cell_type != "code":
        return _new_cell(cell.cell_type, cell.source, metadata)
    if student and "solution" in cell_tags:
        return _new_cell("markdown", solution_block(cell.source), metadata)
    source = cell.source
    if "gpu" in cell_tags:
        source = "%%gpu\n" + source
    if "helper" in cell_tags:
        metadata["jupyter"] = {"source_hidden": True}
    return _new_cell("code", source, metadata)


def _assign_ids(cells: list[nbformat.NotebookNode]) -> None:
    """Cell ids from a hash of type and content; repeats get a counter. Stable across builds."""
    seen: dict[str, int] = {}
    for cell in cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode("utf-8")).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def build(notebook: nbformat.NotebookNode, notebook_path: str, student: bool) -> str:
    """The ``.ipynb`` text for one notebook (``notebook_path`` is where it will live, for the badge)."""
    cells = [_converted(cell, student) for cell in notebook.cells]
    title_end = 1 if cells and cells[0].cell_type == "markdown" else 0
    setup = [
        _new_cell("markdown", _badge(notebook_path), {}),
        # Colab's form view shows only the #@title line; JupyterLab folds the cell.
        _new_cell("code", COLAB_SETUP, {"cellView": "form", "jupyter": {"source_hidden": True}}),
    ]
    cells[title_end:title_end] = setup
    _assign_ids(cells)
    metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": copy.deepcopy(LANGUAGE_INFO),
    }
    if "fomm_teach" in notebook.metadata:
        metadata["fomm_teach"] = notebook.metadata["fomm_teach"]
    output = v4.new_notebook(cells=cells, metadata=metadata)
    nbformat.validate(output)
    return nbformat.writes(output, version=4) + "\n"


def targets(root: Path, source_path: Path) -> dict[Path, bool]:
    """``{output path: is_student}`` for one source."""
    name = source_path.stem + ".ipynb"
    return {root / "notebooks" / name: False, root / "notebooks" / "student" / name: True}


def plan(root: Path) -> tuple[dict[Path, str], list[Path]]:
    """Every notebook's text, after the build guard, and generated notebooks whose source is gone."""
    wanted: dict[Path, str] = {}
    for source_path in notebook_sources(root):
        source = relative(source_path, root)
        notebook = read_notebook(source_path)
        check_exercises(notebook, source)
        for path, student in targets(root, source_path).items():
            wanted[path] = build(notebook, relative(path, root), student)
    existing = sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "notebooks" / "student").glob("*.ipynb"))
    stale = [path for path in existing if path not in wanted]
    return wanted, stale


def main(argv: list[str] | None = None) -> int:
    return run_generator("build_notebooks", plan, argv, description=__doc__.split("\n\n")[0],
                         built_from=lambda path: f"what notebooks/{path.stem}.py builds",
                         stale_reason=lambda path: f"no source notebooks/{path.stem}.py any more", make_target="notebooks")


if __name__ == "__main__":
    sys.exit(main())
