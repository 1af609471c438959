"""The errors reramlab raises for bad input. Each carries one message that names what is wrong
and where (file, key, parameter, value, limit); the CLI prints it and exits with status 2."""


class ReramlabError(Exception):
    """Base class: a problem with the user's input or set-up, not a bug."""

    exit_code = 2


class StationError(ReramlabError):
    """A station file is malformed, incomplete or inconsistent with its instruments."""


class ParameterError(ReramlabError):
    """A protocol parameter is unknown, of the wrong type or out of its valid range."""


class SafetyLimitError(ReramlabError):
    """A requested operation would exceed the station's safety limits; nothing was sent."""


class CellSelectionError(ReramlabError):
    """A cell selection is malformed or outside the chip."""


class LogFileError(ReramlabError):
    """A log file cannot be opened, is not a reramlab log, or is read-only."""


class UnknownProtocolError(ReramlabError):
    """No protocol by that name."""


# -- faults of the bench while a run goes on (not the user's input: exit status 1) ---------------
class BenchFault(Exception):
    """An instrument misbehaved during a run; the run was stopped and the bench made safe."""

    exit_code = 1


class InstrumentIOError(BenchFault):
    """An instrument did not answer, or answered garbage, even after the bounded retries."""


class SafeStateError(BenchFault):
    """The bench could not be brought fully to its safe state (an instrument is unreachable)."""
