from __future__ import annotations

from typing import Any

import pytest

from monitor.core.breaker import CircuitBreaker

# Each step: (action, now, expected return of allow or None, expected state after).
Step = tuple[str, float, bool | None, str]


def run(breaker: CircuitBreaker, steps: list[Step]) -> None:
    for number, (action, now, allowed, state) in enumerate(steps):
        if action == "allow":
            assert breaker.allow(now) is allowed, f"step {number}"
        elif action == "fail":
            breaker.record_failure(now)
        else:
            breaker.record_success(now)
        assert breaker.state == state, f"step {number}"


SCENARIOS: dict[str, list[Step]] = {
    "opens at the threshold, not before": [
        ("fail", 0, None, "closed"),
        ("fail", 1, None, "closed"),
        ("allow", 2, True, "closed"),
        ("fail", 2, None, "open"),
        ("allow", 3, False, "open"),
    ],
    "a success resets the consecutive count": [
        ("fail", 0, None, "closed"),
        ("fail", 1, None, "closed"),
        ("ok", 2, None, "closed"),
        ("fail", 3, None, "closed"),
        ("fail", 4, None, "closed"),
        ("fail", 5, None, "open"),
    ],
    "cooldown then one probe at a time; success closes": [
        *[("fail", 0, None, "closed")] * 2,
        ("fail", 0, None, "open"),
        ("allow", 9.9, False, "open"),
        ("allow", 10, True, "half_open"),
        ("allow", 10.5, False, "half_open"),
        ("allow", 11, False, "half_open"),
        ("ok", 12, None, "closed"),
        ("allow", 12, True, "closed"),
        ("allow", 12, True, "closed"),
    ],
    "a failed probe re-opens with the cooldown doubled, capped": [
        *[("fail", 0, None, "closed")] * 2,
        ("fail", 0, None, "open"),
        ("allow", 10, True, "half_open"),
        ("fail", 11, None, "open"),
        ("allow", 30.9, False, "open"),  # 11 + 20
        ("allow", 31, True, "half_open"),
        ("fail", 31, None, "open"),
        ("allow", 65, False, "open"),  # 31 + 35 (40 capped at 35)
        ("allow", 66, True, "half_open"),
        ("fail", 66, None, "open"),
        ("allow", 100.9, False, "open"),
        ("allow", 101, True, "half_open"),
        ("ok", 102, None, "closed"),
        # After closing, the next opening starts from the base cooldown again.
        *[("fail", 103, None, "closed")] * 2,
        ("fail", 103, None, "open"),
        ("allow", 112.9, False, "open"),
        ("allow", 113, True, "half_open"),
    ],
    "late failures while open do not extend the cooldown": [
        *[("fail", 0, None, "closed")] * 2,
        ("fail", 0, None, "open"),
        ("fail", 8, None, "open"),
        ("allow", 10, True, "half_open"),
    ],
    "a probe that never reports back is presumed lost after a cooldown": [
        *[("fail", 0, None, "closed")] * 2,
        ("fail", 0, None, "open"),
        ("allow", 10, True, "half_open"),
        ("allow", 19.9, False, "half_open"),
        ("allow", 20, True, "half_open"),
        ("allow", 21, False, "half_open"),
    ],
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_breaker_state_machine(name: str) -> None:
    run(CircuitBreaker(failure_threshold=3, cooldown=10.0, max_cooldown=35.0), SCENARIOS[name])


def test_defaults() -> None:
    run(
        CircuitBreaker(),
        [
            *[("fail", now, None, "closed") for now in range(4)],
            ("fail", 4, None, "open"),
            ("allow", 33.9, False, "open"),
            ("allow", 34, True, "half_open"),
        ],
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"cooldown": 0.0},
        {"cooldown": -1.0},
        {"cooldown": 60.0, "max_cooldown": 30.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        CircuitBreaker(**kwargs)
