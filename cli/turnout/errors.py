"""The errors turnout reports to people: one paragraph, naming what is wrong and what would be valid."""


class TurnoutError(Exception):
    """An error meant for the operator. The CLI prints its message as one paragraph, no traceback."""

    exit_code = 2


class SpecError(TurnoutError):
    """The migration spec is missing, unreadable or invalid."""


class RenderError(TurnoutError):
    """A template could not be rendered, or the rendered files are stale."""


class TerraformError(TurnoutError):
    """terraform is missing, failed, or produced a plan turnout refuses to apply."""


class EmulatorError(TurnoutError):
    """The local AWS emulator could not be started, reached or stopped."""
