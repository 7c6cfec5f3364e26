"""Build step that puts the course notebooks inside the wheel (all other settings: pyproject.toml).

The notebooks live in notebooks/ at the repository root, where `make notebooks` writes them and
`tools/build_notebooks.py --check` keeps them in step with their .py sources. Package data cannot
reach outside the package, so this build_py copies them into the *build tree* as
fomm_teach/course_notebooks/{instructor,student}/, where `fomm-teach notebooks DIR` finds them.
Nothing is copied into the source tree, so the repository keeps a single copy that cannot drift;
an editable install (`pip install -e .`) skips the copy and the command reads notebooks/ itself.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = {"instructor": ROOT / "notebooks", "student": ROOT / "notebooks" / "student"}
PACKAGED = Path("fomm_teach", "course_notebooks")


class BuildPyWithNotebooks(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for kind, folder in NOTEBOOKS.items():
            notebooks = sorted(folder.glob("[0-9]*.ipynb"))
            if not notebooks:
                raise SystemExit(f"setup.py: no notebooks in {folder}; run `make notebooks` first")
            destination = Path(self.build_lib, PACKAGED, kind)
            self.mkpath(str(destination))
            for notebook in notebooks:
                self.copy_file(str(notebook), str(destination / notebook.name))


setup(cmdclass={"build_py": BuildPyWithNotebooks})
