"""The errors users see: ``PlayerRunsError`` and its three kinds (run file, validation, configuration).

Each carries a one-line message naming the file or flag at fault; catching ``PlayerRunsError``
catches them all.
"""


class PlayerRunsError(Exception):
    """A user-facing error. The CLI prints ``str(error)`` on one line and exits non-zero."""


class RunFileError(PlayerRunsError):
    """A run file cannot be read: missing, truncated, not a pickle, unsafe, or of unknown format."""


class ValidationError(PlayerRunsError):
    """A run file was read but its samples do not fit the spec's schema or the current tmrl config."""


class ConfigError(PlayerRunsError):
    """The TmrlData folder or its config.json is missing or unusable."""


def one_line(err: BaseException, limit: int = 200) -> str:
    """An exception's text on one short line (a damaged file or a full disk can put anything in it)."""
    try:
        text = " ".join(str(err).split())
    except Exception:  # str() of a hostile value (e.g. an int of 5,000 digits)
        text = ""
    return text if len(text) <= limit else text[: limit - 3] + "..."
