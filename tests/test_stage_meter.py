"""The run's stage meter (issue 11, measurement): each stage's seconds are logged as it ends,
so a long run that fails late still leaves the figures of the stages it finished."""

from __future__ import annotations

import logging

import pytest

from flows.pipeline import STAGE_LOG, StageMeter


def test_each_stage_is_logged_as_it_ends_even_when_a_later_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    meter = StageMeter()
    caplog.set_level(logging.INFO, logger=STAGE_LOG.name)
    with meter.stage("ingest"):
        pass
    with pytest.raises(RuntimeError), meter.stage("derive"):
        raise RuntimeError("a shard ran out of memory")
    lines = [r.getMessage() for r in caplog.records if r.name == STAGE_LOG.name]
    assert [line.split(":")[0] for line in lines] == ["stage ingest", "stage derive"]
    assert set(meter.seconds) == {"ingest", "derive"}
    assert all(line.endswith(" s") or "peak RSS" in line for line in lines)
