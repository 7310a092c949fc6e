"""Pure decisions: schedules, identity, the poll decision, the delivery decision, retry plans,
the circuit breaker, routing and HTTP dates. No I/O: every function takes ``now`` and a random
source as arguments, so each is tested as a table."""
