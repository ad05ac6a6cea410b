"""How many threads a function may use: one rule for n_jobs, OpenMP and BLAS. stdlib only.

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, up to six at
10,240 MB. A step that starts more threads than that only makes them wait (a HistGB fit that
takes 1.5 s on one thread took 9-13 s with two cores oversubscribed). Locally every Lambda runs
in one process and a Map's iterations run at once, so the local stack sets EVERGREEN_THREADS=1.
"""

from __future__ import annotations

import math
import os

MB_PER_VCPU = 1769
MAX_VCPUS = 6


def threads() -> int:
    """EVERGREEN_THREADS when set; in Lambda, the vCPUs its memory buys; else the machine's cores."""
    if os.environ.get("EVERGREEN_THREADS"):
        return max(1, int(os.environ["EVERGREEN_THREADS"]))
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if memory:
        return max(1, min(MAX_VCPUS, math.ceil(int(memory) / MB_PER_VCPU)))
    return os.cpu_count() or 1
