"""User-facing errors.

Every problem caused by the user's input or environment is raised as a :class:`UserError`
subclass whose message is one line naming the problem and what to do. The CLI prints it
without a traceback and exits non-zero; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input or environment (not a bug in zerogate)."""

    exit_code = 2


class IRError(UserError):
    """An IR that is malformed, corrupt, from another schema version or out of range."""


class ConfigError(UserError):
    """A bad option or configuration value."""


class ToolError(UserError):
    """An external tool (Verilator, Yosys, nextpnr) is missing or failed."""

    exit_code = 3


class ToolTimeout(ToolError):
    """A tool run was stopped at its time limit (a benchmark's cap on place and route)."""


class UnsupportedError(UserError):
    """A layer, op, size or width that this version cannot handle."""


class VerificationError(UserError):
    """The RTL disagreed with the golden model (or the golden model with PyTorch)."""

    exit_code = 4
