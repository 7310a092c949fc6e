"""Bytes to entries: RSS/Atom (feedparser, hardened) and JSON Feed, read into plain-text
records. Pure: no network, no database, no config."""
