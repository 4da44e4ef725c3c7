"""``python -m vbwd_plugins.cli``: the same as the ``vbwd-plugins`` command."""

import sys

from vbwd_plugins.cli import main

sys.exit(main())
