"""The one exception type users see.

Anything the user can cause (a missing file, a bad archive, a tampered model folder, a wrong flag)
raises :class:`UserError` with a message that fits on one line; the CLI prints it and exits 2, the
HTTP server turns it into a 4xx with a JSON body. Everything else is a bug.
"""


class UserError(Exception):
    """A problem with the input, reported as one line."""


class DataError(UserError):
    """A dataset source that cannot be found, fetched, verified or read."""


class ArtifactError(UserError):
    """A model folder that is missing, incomplete, tampered with or from an unknown version."""
