"""``python -m mpsoc_nlp`` runs the ``mpsoc`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
