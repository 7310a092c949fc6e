from __future__ import annotations

from typing import Any

import pytest

from monitor.core.breaker import CircuitBreaker

# Each step: (action, now, expected return or None if not checked, expected state after).
# Actions: allow, probe (probe_early), fail (record_failure), ok (record_success: recovered?).
Step = tuple[str, float, bool | None, str]


def run(breaker: CircuitBreaker, steps: list[Step]) -> None:
    for number, (action, now, expected, state) in enumerate(steps):
        if action == "allow":
            assert breaker.allow(now) is expected, f"step {number}"
        elif action == "probe":
            assert breaker.probe_early(now) is expected, f"step {number}"
        elif action == "fail":
            breaker.record_failure(now)
        else:
            recovered = breaker.record_success(now)
            assert expected is None or recovered is expected, f"step {number}"
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
    # Recovery: which success makes the backlog due (the sender's ``release_backlog``).
    "the first success after failures is a recovery, the next one is not": [
        ("ok", 0, True, "closed"),  # the first this breaker sees: what came before is unknown
        ("ok", 1, False, "closed"),
        ("fail", 2, None, "closed"),
        ("ok", 3, True, "closed"),
        ("ok", 4, False, "closed"),
    ],
    "a half-open probe that succeeds is a recovery": [
        ("ok", 0, True, "closed"),
        *[("fail", 1, None, "closed")] * 2,
        ("fail", 1, None, "open"),
        ("allow", 11, True, "half_open"),
        ("ok", 12, True, "closed"),
        ("ok", 13, False, "closed"),
    ],
    "an idle endpoint whose last answer failed is probed early, once a cooldown": [
        ("ok", 0, True, "closed"),
        ("probe", 100, False, "closed"),  # healthy: never
        ("fail", 101, None, "closed"),
        ("probe", 110.9, False, "closed"),
        ("probe", 111, True, "closed"),
        ("probe", 112, False, "closed"),  # one in flight (or it found nothing): a cooldown
        ("probe", 121, True, "closed"),
        ("fail", 121.5, None, "closed"),  # the probe failed: a cooldown from then
        ("probe", 131.4, False, "closed"),
        ("probe", 131.5, True, "closed"),
        ("ok", 132, True, "closed"),
        ("probe", 200, False, "closed"),
    ],
    "an open circuit is probed early after its cooldown, never beside a probe": [
        *[("fail", 0, None, "closed")] * 2,
        ("fail", 0, None, "open"),
        ("probe", 9.9, False, "open"),
        ("probe", 10, True, "open"),
        ("allow", 10, True, "half_open"),  # the early probe is sent
        ("probe", 15, False, "half_open"),  # one out already
        ("fail", 25, None, "open"),  # cooldown doubled: 20
        ("probe", 44.9, False, "open"),
        ("probe", 45, True, "open"),
        ("allow", 45, True, "half_open"),
        ("ok", 46, True, "closed"),
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
