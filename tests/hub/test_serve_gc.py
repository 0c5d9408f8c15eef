"""The hub tunes the garbage collector once it is built (ack-path tail latency)."""

from __future__ import annotations

import gc

from hub.serve import GC_THRESHOLDS, tune_gc


def test_tuning_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0, "startup objects moved to the permanent generation"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
