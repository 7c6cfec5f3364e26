"""``python -m fomm_teach``: the ``fomm-teach`` command, for environments without its script on
PATH, and for ``torchrun -m fomm_teach train ...`` (torchrun starts a module, not a script)."""

import sys

from fomm_teach.cli import main

if __name__ == "__main__":
    sys.exit(main())
