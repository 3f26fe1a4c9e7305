"""Entry of pdbench/summary.py: the figure, the short table and docs/PERFORMANCE.md."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pdbench.summary import main

if __name__ == "__main__":
    sys.exit(main())
