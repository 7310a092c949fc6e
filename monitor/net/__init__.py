"""The network edge: the SSRF guard, keep-alive clients on guarded connections, and the one
User-Agent."""
