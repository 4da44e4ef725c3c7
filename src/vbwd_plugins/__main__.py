"""``python -m vbwd_plugins``: the same as the ``vbwd-plugins`` command."""

import sys

from vbwd_plugins.cli import main

sys.exit(main())
