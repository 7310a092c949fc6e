"""Webhook delivery, the pure side: payload, consumer formats, signing, retry and breaker.

``payload`` builds our documented alert document, ``formats`` renders it for each kind of
consumer, ``sign`` adds Standard Webhooks headers, ``retry`` and ``breaker`` decide when to
try again. Nothing here does I/O; the outbox and the sender call these functions.
"""
