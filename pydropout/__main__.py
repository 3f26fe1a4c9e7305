"""``python -m pydropout [info | demo | bench]``: see ``pydropout._cli``."""

from pydropout._cli import main

raise SystemExit(main())
