"""Limits that keep one rule from stalling the daemon, however hostile the rule or the item.

Compile time (``parse_query`` raises ``QuerySyntaxError``): a query's length, its number of
terms, how deep it nests, and how many NEARs one proximity expression chains. They keep the
parser and every walk over the AST far from Python's recursion limit. Match time: a budget of
steps per rule and item for positional work (NEAR spans and pairs, explain hits), so no rule
can make one item cost more than that. All are far above what real rules and news need: the
shipped rules (``config/rules/default.yaml``) are at most 12,891 characters, 860 terms,
6 parentheses deep, with 6 NEARs in one expression, and use under 5% of the budget on a
47 KB article. Documented under "Limits" in ``docs/query-language.md``.
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "MAX_NEAR_OPERATORS",
    "MAX_QUERY_CHARS",
    "MAX_RULE_STEPS",
    "MAX_TERMS",
    "SNIPPET_TOKENS",
    "SNIPPET_WIDTH",
]

#: The longest query, in characters (checked before anything else is read).
MAX_QUERY_CHARS = 65_536
#: The most terms (words, phrases, wildcards) in one query.
MAX_TERMS = 4_096
#: The deepest nesting of parentheses and NOT/- in one query.
MAX_DEPTH = 32
#: The most NEAR/ONEAR operators in one proximity expression (a NEAR and its operands).
MAX_NEAR_OPERATORS = 16
#: Positional work one rule may do on one item: a step per span or hit it builds and per
#: pair of spans it compares. Past it the search stops where it is (the rule may then miss
#: a proximity match only a later occurrence would make, or explain fewer hits).
MAX_RULE_STEPS = 100_000

#: A snippet shows about this many characters of the original text.
SNIPPET_WIDTH = 160
#: ... so at most this many token positions after its first hit (a token and a separator
#: take two characters or more): later hits of a term are never shown.
SNIPPET_TOKENS = SNIPPET_WIDTH // 2
