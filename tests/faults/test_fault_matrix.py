"""The fault matrix at reduced size, as part of `pytest tests/`.

Each scenario runs against the session's test broker with a few hundred
messages. `make test-faults` runs the full matrix with thousands of messages
per scenario and also restarts a broker of its own.
"""

from __future__ import annotations

import pytest
from harness import run_scenario, sidecar_executable
from scenarios import REDUCED, SCENARIOS, Scenario

REDUCED_SCENARIOS = [
    scenario
    for scenario in SCENARIOS
    if scenario.body is not None and scenario.in_reduced_run and not scenario.needs_own_broker
]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", REDUCED_SCENARIOS, ids=lambda scenario: scenario.name)
def test_fault_scenario(scenario: Scenario, kafka_bootstrap: str) -> None:
    if not sidecar_executable().is_file():
        pytest.skip(f"{sidecar_executable()} not found: build it with `make build`")
    assert scenario.body is not None

    result = run_scenario(
        scenario.name,
        lambda run, row: scenario.body(run, row, REDUCED),
        kafka_bootstrap,
        seed=20261204 + scenario.number,
    )

    if result.status == "not available":
        pytest.skip(f"{scenario.name}: {result.detail}")
    assert result.status == "ok", result.detail
    assert result.lost == 0, result.detail
    assert result.duplicates <= result.duplicate_bound, result.detail
    assert result.committed_equals_end, result.detail
