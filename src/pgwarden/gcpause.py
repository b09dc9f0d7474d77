"""Python's cycle collector, paused where pgwarden makes many objects and no garbage cycles.

A plan allocates a few hundred thousand objects (modules and their classes as they load, pglast
nodes, findings) that form no reference cycles and live until it ends: the collector would walk
them again and again as they pile up, for nothing to collect. Reference counting still frees
garbage while it is off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cycle collector off inside the block, back on (if it was) afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
