"""Entry point: `python -m benchrun ...`; BenchRunError becomes one line and exit 2."""

import sys

from benchrun.cli import main
from benchrun.errors import BenchRunError

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchRunError as exc:
        print(f"benchrun: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
