"""Delivery, the shell around ``core.delivery``: it sends, the core decides what came of it.

``sender`` drains the outbox in lanes (one per webhook: batches, leases, breaker, group
commit), ``http_target`` makes one signed POST, ``apprise_target`` one Apprise notification,
``leases`` takes back the claims of a dead local instance.
"""
