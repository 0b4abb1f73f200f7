"""The one exception type the CLI turns into a clear error line and a non-zero exit."""


class BenchError(Exception):
    """A user-facing problem: the message names what is wrong and how to fix it."""
