"""Typed errors of the library.  The CLI turns each into one `inr: error: ...` line and its exit code."""


class InrError(Exception):
    """Base class: anything the user can fix.  Exit code 1."""

    exit_code = 1


class UsageError(InrError):
    """A flag or argument that makes no sense (exit code 2, like a typer usage error)."""

    exit_code = 2


class SignalReadError(InrError):
    """An input signal file that cannot be read: missing, truncated, corrupt or unsupported."""


class InrFileError(InrError):
    """An INR (.safetensors) file that is not valid: wrong header, metadata or tensors."""


class OutputExistsError(InrError):
    """The output exists and --force was not given."""


class ResourceError(InrError):
    """A request that would need more memory than is sensible."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that temporary files are cleaned up on the way out."""
