"""The one exception type of benchrun; __main__ maps it to exit code 2."""


class BenchRunError(Exception):
    """A run could not be carried out; the message says why, in one line."""
