"""The documents we send: webhook payloads, their rendering per format, and signing.

A pure layer: standard library, standardwebhooks, ``monitor.models``, ``monitor.errors`` and
``monitor.text`` only; no I/O.
"""
