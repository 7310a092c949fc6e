"""Fetch: polite, capped, SSRF-guarded conditional GETs (and feed discovery on a site)."""
