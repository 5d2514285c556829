"""``python -m lmlib.exercises``: the teacher's commands (see ``teacher``)."""

from .teacher import main

raise SystemExit(main())
