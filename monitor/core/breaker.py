"""A per-endpoint circuit breaker: stop hammering a consumer that keeps failing, and notice
when it is back."""

from __future__ import annotations

from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures -> half-open after
    the cooldown, where one probe at a time goes through: its success closes the circuit,
    its failure re-opens it with the cooldown doubled (up to ``max_cooldown``).

    It also serves recovery: ``record_success`` tells whether a success ends a spell of
    failures, ``probe_early`` when an idle endpoint whose last answer was a failure should
    get one delivery early, to find out whether it is back.

    Pure: the caller passes ``now`` (monotonic seconds). ``state`` moves from open to
    half-open when ``allow`` is asked after the cooldown.
    """

    def __init__(
        self, *, failure_threshold: int = 5, cooldown: float = 30.0, max_cooldown: float = 600.0
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if not 0 < cooldown <= max_cooldown:
            raise ValueError(
                f"need 0 < cooldown <= max_cooldown, got {cooldown} and {max_cooldown}"
            )
        self.failure_threshold = failure_threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.state: State = "closed"
        self.failures = 0  # consecutive, while closed
        self.cooldown = cooldown  # the one in force for the current or next opening
        self._opened_at = 0.0
        self._failed_at = 0.0  # the last failure
        self._probe_started: float | None = None
        self._early_at: float | None = None  # the last early probe taken
        # No success seen yet: failures before this breaker existed (another process, before
        # a restart) are unknown here, so its first success counts as a recovery too.
        self._succeeded = False

    def allow(self, now: float) -> bool:
        """May a request go out now?"""
        if self.state == "closed":
            return True
        if self.state == "open":
            if now - self._opened_at < self.cooldown:
                return False
            self.state = "half_open"
        # Half-open: one probe at a time. A probe that never reports back (the sender
        # crashed mid-request) is taken as lost after a cooldown, so the circuit can't wedge.
        if self._probing(now):
            return False
        self._probe_started = now
        return True

    def probe_early(self, now: float) -> bool:
        """May one delivery go to an idle endpoint before its retry is due, to find out
        whether the endpoint is back? Yes once its last answer was a failure and it has been
        left alone for a cooldown; then no again for a cooldown (the probe is in flight, or
        found nothing to send). ``allow`` still decides when the probe is sent.
        """
        if self.state == "closed":
            quiet = self.failures > 0 and now - self._failed_at >= self.cooldown
        elif self.state == "open":
            quiet = now - self._opened_at >= self.cooldown
        else:
            quiet = not self._probing(now)
        if not quiet or (self._early_at is not None and now - self._early_at < self.cooldown):
            return False
        self._early_at = now
        return True

    def _probing(self, now: float) -> bool:
        return self._probe_started is not None and now - self._probe_started < self.cooldown

    def record_success(self, now: float) -> bool:
        """A delivery succeeded: close and forget the failures.

        Returns whether the endpoint recovered: the first success after failures, or the
        first this breaker sees.
        """
        recovered = self.state != "closed" or self.failures > 0 or not self._succeeded
        self._succeeded = True
        self.state = "closed"
        self.failures = 0
        self.cooldown = self.base_cooldown
        self._probe_started = None
        return recovered

    def record_failure(self, now: float) -> None:
        """A delivery failed: count it; open at the threshold; a failed probe re-opens longer."""
        self._failed_at = now
        if self.state == "half_open":
            self.cooldown = min(self.cooldown * 2, self.max_cooldown)
            self._open(now)
        elif self.state == "closed":
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open(now)
        # Open: a late failure of a request sent before opening changes nothing.

    def _open(self, now: float) -> None:
        self.state = "open"
        self._opened_at = now
        self._probe_started = None
