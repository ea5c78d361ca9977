"""Entry point: ``python3 -m perfgate``. Maps PerfGateError to exit 2 in one place."""

from __future__ import annotations

import sys

from perfgate.cli import main
from perfgate.errors import PerfGateError
from perfgate.fmt import one_line


def run(argv: list[str] | None = None) -> int:
    try:
        return main(argv)
    except PerfGateError as exc:
        print(f"perfgate: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("perfgate: error: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
