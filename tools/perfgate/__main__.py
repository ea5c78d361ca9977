"""Entry point: ``python3 -m perfgate``. Maps PerfGateError to exit 2 in one place."""

from __future__ import annotations

import sys
from collections.abc import Callable

from perfgate.cli import main
from perfgate.errors import PerfGateError
from perfgate.fmt import one_line


def guarded(command: Callable[[list[str] | None], int], argv: list[str] | None = None,
            prog: str = "perfgate") -> int:
    """Runs a command line's main: PerfGateError (and ^C) become one line on stderr and exit 2.
    `python3 -m perfgate` and the tools run as their own module (changepoints_eval) use it."""
    try:
        return command(argv)
    except PerfGateError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    return guarded(main, argv)


if __name__ == "__main__":
    sys.exit(run())
