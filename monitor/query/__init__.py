"""The rule language: what a rule's ``query`` means, and the matcher that runs it.

Quick reference
===============

=============================  ==========================================================
``coalition``                  the word, anywhere in title, summary or content
``coalition alliance``         both words (implicit AND); same as ``coalition AND alliance``
``quit OR leave``              either word
``NOT sports``, ``-sports``    the item must not contain the word
``"part ways"``                the exact phrase: these words adjacent, in this order
``ultimatum*``                 a word starting with ``ultimatum`` (ultimatum, ultimatums)
``(a OR b) c``                 parentheses group
``quit NEAR/6 coalition``      both within 6 word positions, either order
``quit ONEAR/6 coalition``     ``quit`` first, then ``coalition`` within 6 positions
``title:coalition``            only in that field; ``title:(a OR b)``, ``title:"a b"``
``lang:ur``                    filter: the item's language is Urdu (``ur``, ``ur-PK``, ...)
=============================  ==========================================================

Words
=====

A term matches *whole words*, ignoring case, accents and compatibility variants: ``zurich``
matches "Zürich", ``strasse`` matches "Straße", ``apple`` matches "ＡＰＰＬＥ" and "Apple™".
Arabic-script spelling variants are folded, so Urdu written with Arabic yeh/kaf/heh, with or
without harakat or tatweel, matches either way (``حکومت`` matches "حكومت"); Arabic-Indic and
Urdu digits match ASCII digits. The exact folding is in ``monitor.query.fold``;
``normalize(text)`` exposes it.

Words are runs of letters, digits and combining marks. Everything else separates words,
including the apostrophe and the hyphen: "party's" is ``party`` + ``s``, and "MQM-P" is
``mqm`` + ``p``. A query word is split the same way and becomes a phrase, so ``MQM-P``
matches "MQM-P", "MQM P" and "mqm–p", and ``mqm`` alone matches "MQM-P" too (``mqmp`` does
not). Lowercase ``and``, ``or``, ``not``, ``near`` are ordinary words. Matching ignores
case, so an acronym that is also a word matches the word (``WHO`` matches "who"): give it
context (``"WHO chief"``, ``WHO NEAR/3 health``).

Phrases match the words in order with nothing but separators between them, so
``"part ways"`` also matches "part-ways" and "part, ways" (but not across fields).

Wildcards: ``*`` at the end of a word matches any word starting with what precedes it
(``resign*`` → resign, resigned, resignation). It may end any word of a phrase
(``"snap* ties"``) but not stand inside a word (``ul*timatum`` is an error).

Operators and precedence
========================

Operators are UPPERCASE keywords. From tightest to loosest::

    NOT, -        (unary)
    NEAR/n, ONEAR/n
    AND           (explicit, or implicit between adjacent terms)
    OR

So ``a OR b c`` is ``a OR (b AND c)``; ``a b OR c d`` is ``(a AND b) OR (c AND d)``;
``-a b`` is ``(NOT a) AND b``; ``a OR b NEAR/3 c`` is ``a OR (b NEAR/3 c)``. Use
parentheses when in doubt. ``-`` means NOT only at the start of a word (``-sports``);
inside a word it is a hyphen.

Proximity
=========

``A NEAR/n B`` matches when an occurrence of A and an occurrence of B, not overlapping,
lie within ``n`` word positions of each other in the *same field* (title, summary and
content are separate fields; so are two authors). ``ONEAR/n`` additionally requires A
before B. **Distance**: for single words at positions i < j, the distance is ``j - i``, so
``NEAR/1`` means adjacent and ``NEAR/n`` allows at most ``n - 1`` words in between. For a
phrase or group the distance is from the last word of the earlier operand to the first word
of the later one. ``n`` is 1 to 1000.

Either side may be a term, phrase, wildcard, an OR-group of those, or another NEAR::

    (quit OR leave OR exit* OR "part ways") NEAR/6 (coalition OR alliance)
    "prime minister" ONEAR/3 resign*
    (a NEAR/2 b) NEAR/10 c          chains are left-associative; (a b) then counts as one span

AND, NOT and ``lang:`` cannot appear inside a NEAR operand. A field scope may: the NEAR is
then evaluated only in the fields both sides can match in (``title:a NEAR/3 b`` looks in
the title only; ``title:a NEAR/3 summary:b`` is an error).

Fields and filters
==================

``title:``, ``summary:``, ``content:``, ``author:``, ``category:``, ``link:`` (host and
path of the item's link, percent-decoded: ``link:dawn.com``, ``link:"news/pakistan"``) and
``feed:`` (the feed's configured name) scope a term, phrase or group: ``title:(quit OR
leave)``. A term without a field searches title, summary and content. An inner scope wins
over an outer one. Field names are case-insensitive; an unknown ``name:`` is an error
(quote a phrase to search for text containing a colon: ``"10:30"``).

``lang:ur`` is a filter: it is true when the primary subtag of the item's language
(``ur`` for ``ur-PK``) equals the code, ignoring case. It combines like a term:
``lang:ur (استعفی OR علیحدگی)``, ``(lang:en OR lang:ur) coalition``, ``coalition NOT
lang:en``. The code is two or three letters.

Stemming
========

A rule with ``stem: english`` (any Snowball language: ``french``, ``arabic``, ...) compares
exact words by stem: ``resign`` matches "resigned" and "resigns", ``"part ways"`` matches
"parted way". Wildcards still compare the unstemmed word. An unknown language is an error.

Errors
======

A query that does not parse raises ``QuerySyntaxError`` with a message and the 0-based
``position`` of the problem (``err.caret()`` draws it): empty query, unbalanced parenthesis,
empty ``()``, unterminated quote, missing term after AND/OR/NOT/NEAR, ``NEAR`` without
``/n`` (or ``/0``, or above 1000), AND/NOT/``lang:`` inside a NEAR operand, NEAR sides
in different fields, unknown field, ``*`` inside a word, a term with no letters or digits
(``&&``).
A query must *require* something: one that would match an item containing none of its
words (``NOT a``, ``-a -b``, ``a OR NOT b``) is rejected, since it would alert on nearly
every item. A pure filter such as ``lang:ur`` is allowed. ``compile_rules`` raises
``RuleSyntaxError`` (a ``QuerySyntaxError`` whose ``rule`` attribute and message name the
rule). So does a query past the limits of ``monitor.query.limits``: 65,536 characters,
4,096 terms, 32 levels of parentheses and NOT, 16 NEARs in one proximity expression.

Limits
======

Matching one item does bounded work per rule: a budget of positional steps (NEAR spans and
pairs, explain hits; ``MAX_RULE_STEPS``), past which the search stops where it got to.
NEAR work grows with the distinct spans, not with the ways of making them. See "Limits" in
docs/query-language.md.

Explain
=======

Each ``RuleMatch`` carries one ``FieldHit`` per field that has a positive hit: a ~160
character snippet of the original text around the first hit (whitespace collapsed, ``…``
where it is cut), with every hit wrapped in ``**...**``, and the distinct query terms (as
written, in query order) that hit there. Only terms in the
branches that made the rule true count, NOT terms never do, and for NEAR only the
occurrences that are within the distance are marked.

API
===

``parse_query(text) -> Query`` (``str(query)`` is a canonical, fully parenthesized form);
``compile_rules(specs) -> RuleSet``; ``RuleSet.match(item) -> list[RuleMatch]`` (rules in
configuration order; ``explain=False`` skips the snippets, for callers that only count
matches); ``RuleSet.names``; ``normalize(text)``; ``tokenize(text)``.

Speed: all rules are compiled into one matcher. Each item is tokenized once; one dictionary
lookup per token (cached per rule set) finds the rules that can match (each rule is indexed
by the words it cannot match without), and only those are evaluated; see
``monitor.query.ruleset`` and ``bench/match.py``.
"""

from monitor.query.fold import normalize
from monitor.query.nodes import Query
from monitor.query.parse import parse_query
from monitor.query.ruleset import RuleSet, RuleSyntaxError, compile_rules
from monitor.query.tokens import tokenize

__all__ = [
    "Query",
    "RuleSet",
    "RuleSyntaxError",
    "compile_rules",
    "normalize",
    "parse_query",
    "tokenize",
]
