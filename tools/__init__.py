"""Course build tools: ``export.py`` (notebooks → library), ``build_notebooks.py`` (notebooks →
``.ipynb``), and the ``notebook_timing`` pytest plugin. Run them from the repository root."""
