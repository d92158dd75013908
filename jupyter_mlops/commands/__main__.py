"""``python -m jupyter_mlops.commands …``: ``jupyter mlops …`` with this interpreter."""

import sys

from jupyter_mlops.commands.main import main

sys.exit(main())
