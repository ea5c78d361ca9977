"""The one exception type perfgate raises for bad input or usage.

`__main__` maps it to exit status 2 and prints its message as one line:
``perfgate: error: <message>``. Every message names the file (or the
benchmark) it is about and says what is wrong with it, so a CI log reader
does not need a traceback.
"""

from __future__ import annotations


class PerfGateError(Exception):
    """Bad input or usage: exit 2 with this message, never a traceback."""
