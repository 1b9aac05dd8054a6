"""``python -m fedguard ...``: the same as the ``fedguard`` command (fedguard._cli)."""

from ._cli import main

raise SystemExit(main())
