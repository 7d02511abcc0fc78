"""A pytest plugin for the notebooks stage (scripts/reader_route.sh loads it with ``-p nb_times``).

1. Prints each notebook's time (kernel start and every cell), slowest first, and marks those over the smoke
   budget of CONTRIBUTING.md (90 s on 2 cores).
2. Starts nbval's kernels with IPC transport (files in the runtime folder) instead of TCP: over TCP, two kernels
   started at the same moment by two pytest workers can pick the same free ports, and a notebook then waits
   forever (seen with nbconvert: 2 of 7 hung until the timeout in one run).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict

SMOKE_BUDGET_S = 90.0
_times: dict[str, float] = defaultdict(float)
_ipc_dirs: list[str] = []


def pytest_configure(config) -> None:
    try:
        import nbval.kernel
    except ImportError:   # not a notebook run
        return
    base = nbval.kernel.KernelManager

    class IPCKernelManager(base):   # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # an absolute path of its own: the default ("kernel-ipc") is relative, and the kernel starts in the
            # notebook's folder while pytest connects from its own
            _ipc_dirs.append(tempfile.mkdtemp(prefix="nbval-ipc-"))
            kwargs.setdefault("ip", os.path.join(_ipc_dirs[-1], "kernel"))
            super().__init__(*args, **kwargs)

    nbval.kernel.KernelManager = IPCKernelManager


def pytest_unconfigure(config) -> None:
    for folder in _ipc_dirs:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_runtest_logreport(report) -> None:
    _times[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _times:
        return
    terminalreporter.write_sep("-", "time per notebook (kernel start and all cells, one thread)")
    for name, seconds in sorted(_times.items(), key=lambda item: -item[1]):
        over = f"   over the {SMOKE_BUDGET_S:.0f} s smoke budget" if seconds > SMOKE_BUDGET_S else ""
        terminalreporter.write_line(f"{seconds:6.1f} s  {name.split('/')[-1]}{over}")
    terminalreporter.write_line(f"{sum(_times.values()):6.1f} s  in all ({len(_times)} notebooks)")
