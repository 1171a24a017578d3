"""How many CPUs this process may run on.

``os.cpu_count()`` is the machine's count; under ``taskset``, a container's cpuset or a batch
scheduler the process may be allowed fewer, and sizing threads or processes by the machine then
oversubscribes the cores it has. Python 3.13's ``os.process_cpu_count()`` is this function.
"""

from __future__ import annotations

import os


def usable() -> int:
    """The CPUs in this process's affinity mask (the machine's count where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1
