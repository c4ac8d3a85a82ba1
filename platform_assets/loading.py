"""Loading the platform's modules without the garbage collector sweeping them as they arrive."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(*, freeze: bool = True) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while modules, definitions or dbt's parse load.

    Loading the definitions imports dagster, dagster-dbt (and with it dbt), pandera and polars,
    and builds every asset's spec: over half a million objects that live as long as the
    process. The collector would traverse them again each time its youngest generation fills,
    a fifth of the load's time in every process that loads them (each run's worker, each code
    server, `cdp`; docs/performance.md).

    With `freeze`, `gc.freeze()` then keeps what was loaded out of later collections (loading
    the definitions leaves about 2,600 objects of garbage in cycles, which it keeps too).
    Without it, collection simply resumes and reclaims what the block left behind: dbt's parse
    leaves about 190,000 such objects. Nested, only the outermost block acts, and where the
    collector was already off it stays off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()
