"""The exceptions libpccheck's status codes become.

Every failing call of the C ABI returns a code (pccheck.h's PCCHECK_E*) and a
message; ``error_for`` turns the pair into the most specific class below.
"""

# The codes of pccheck.h, by name.
OK = 0
EINVAL = 1
ENOTFOUND = 2
EIO = 3
ENOSPC = 4
ECORRUPT = 5
EBUSY = 6
EABORTED = 7
EUNAVAILABLE = 8
EPERM = 9
EINTERNAL = 10
ETIMEOUT = 11

CODE_NAMES = {
    EINVAL: "EINVAL", ENOTFOUND: "ENOTFOUND", EIO: "EIO", ENOSPC: "ENOSPC",
    ECORRUPT: "ECORRUPT", EBUSY: "EBUSY", EABORTED: "EABORTED",
    EUNAVAILABLE: "EUNAVAILABLE", EPERM: "EPERM", EINTERNAL: "EINTERNAL",
    ETIMEOUT: "ETIMEOUT",
}


class PccheckError(RuntimeError):
    """A libpccheck call failed. ``code`` is the PCCHECK_E* status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return "%s (%s)" % (self.message, CODE_NAMES.get(self.code, self.code))


class DaemonUnavailable(PccheckError):
    """pccheckd is not running or not reachable (PCCHECK_EUNAVAILABLE)."""


class CheckpointBusy(PccheckError):
    """The daemon refused the save because it is saturated (PCCHECK_EBUSY)."""


class CheckpointNotFound(PccheckError):
    """No such checkpoint, or a tensor it lacks (PCCHECK_ENOTFOUND)."""


class CheckpointCorrupt(PccheckError):
    """A checkpoint failed verification (PCCHECK_ECORRUPT)."""


class CheckpointTimeout(PccheckError, TimeoutError):
    """A wait ran past its timeout (PCCHECK_ETIMEOUT)."""


_CLASSES = {
    EUNAVAILABLE: DaemonUnavailable,
    EBUSY: CheckpointBusy,
    ENOTFOUND: CheckpointNotFound,
    ECORRUPT: CheckpointCorrupt,
    ETIMEOUT: CheckpointTimeout,
}


def error_for(code, message):
    """The exception for status ``code`` with ``message``."""
    return _CLASSES.get(code, PccheckError)(code, message)
