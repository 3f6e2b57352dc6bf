"""``python -m pyronas.cli``: the ``pyronas`` command."""

import sys

from pyronas.cli import main

sys.exit(main())
