"""The open-files limit: every connection is a file descriptor.

Many systems start services with a soft limit of 1024 open files, far below
the hard limit, which would cap the server near a thousand connections
whatever its other limits say (and turn a flood of connections into failed
accepts for everyone). The soft limit is the process's to raise, up to the
hard one, as Go's runtime does at start.
"""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)


def raise_open_files_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
    now in force (None where there is no such limit, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        log.info("open-files limit raised to %d", soft)
    return soft
