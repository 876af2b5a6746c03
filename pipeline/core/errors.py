"""User-facing errors: one clear line, no traceback unless ``--debug``."""


class BridgeError(Exception):
    """A problem with the user's input (params, files, data), not a bug.

    The message is the whole story: it names the file, row, key or shard.
    The CLI prints it on one line and exits non-zero.
    """
