"""The collector pause every process takes while it loads the definitions."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from platform_assets.loading import collector_paused


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after_with_what_loaded_frozen() -> None:
    frozen = gc.get_freeze_count()
    with collector_paused():
        assert not gc.isenabled()
        loaded = [[n] for n in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(loaded)


class _Node:
    """An object in a reference cycle, which only the cyclic collector reclaims."""

    def __init__(self) -> None:
        self.me = self


def test_without_freeze_what_the_block_left_is_collected_as_usual() -> None:
    frozen = gc.get_freeze_count()
    with collector_paused(freeze=False):
        assert not gc.isenabled()
        left = weakref.ref(_Node())  # garbage in a cycle, as dbt's parse leaves
    assert gc.isenabled()
    # Nothing was frozen: the count only falls when another thread frees frozen objects.
    assert gc.get_freeze_count() <= frozen
    gc.collect()
    assert left() is None


def test_a_failure_inside_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a definition failed to load")
    assert gc.isenabled()


def test_nested_only_the_outer_block_turns_it_back_on() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
