"""Delivery, the shell around ``core.delivery``: it sends, the core decides what came of it.

``sender`` drains the outbox in lanes (one per webhook: batches, leases, breaker, group
commit, recovery and Retry-After holds); each attempt goes to one target: ``http_target`` (a
signed POST), ``apprise_target`` (an Apprise notification) or ``broker_target`` (Redis
Streams, RabbitMQ, NATS JetStream: ``redis_target``, ``amqp_target``, ``nats_target``).
``leases`` takes back the claims of a dead local instance.
"""
