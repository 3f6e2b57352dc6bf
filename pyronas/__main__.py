"""``python -m pyronas ...`` is the ``pyronas`` command."""

import sys

from pyronas.cli import main

sys.exit(main())
