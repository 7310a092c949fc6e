"""The compiled rule set: one multi-pattern pass per item, then only the rules it points at.

How ``RuleSet.match(item)`` works:

1. The item is normalized and tokenized once (``monitor.query.document``); its indexes are
   built on first use and shared by all rules.
2. At compile time every rule gets *anchors* (``monitor.query.anchors``): a set of words
   such that the rule cannot match unless one of them occurs in the item.
3. The anchors are found with one dictionary lookup per token, in C
   (``monitor.query.vocabulary``): a cache per RuleSet maps each token it has seen to the
   frozenset of query words, stems and wildcard prefixes that token satisfies (filled on
   first sight, cleared past 300k entries; the many tokens that satisfy none share one empty
   frozenset, so an item yields a handful of distinct sets). Their union
   (``Document.present``) names the candidate rules (``monitor.query.candidates``),
   evaluated in configuration order, and answers their plain word and single-wildcard tests
   too (every query prefix is in the cache's vocabulary). This replaced a pyahocorasick pass
   over the joined tokens: since items are tokenized anyway, whole-word lookups are cheaper
   than an automaton pass, and stems come out of the same cache instead of stemming every
   token.
4. A candidate is evaluated by closures compiled from its AST (``monitor.query.evaluate``,
   ``monitor.query.near``): cheapest operand first, set lookups where positions are not
   needed, an OR's plain words as one set operation, NEAR only when both sides occur, over
   sorted positions.
5. A matching rule is explained (``monitor.query.explain``): its hits placed in the
   original text as snippets.

Each rule evaluated on an item has its own budget of positional work (``MAX_RULE_STEPS``,
``monitor.query.limits``), so a hostile rule costs at most that, and cannot spend another
rule's.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.errors import QuerySyntaxError
from monitor.models import FieldHit, Item, RuleMatch, RuleSpec
from monitor.query.candidates import CandidateIndex
from monitor.query.document import Document
from monitor.query.limits import MAX_RULE_STEPS
from monitor.query.parse import parse_query
from monitor.query.rule import Rule
from monitor.query.stem import stemmer

__all__ = ["RuleSet", "RuleSyntaxError", "compile_rules"]


class RuleSyntaxError(QuerySyntaxError):
    """A rule's query does not compile; ``rule`` names it and the message starts with it."""

    def __init__(self, rule: str, message: str, query: str, position: int) -> None:
        super().__init__(f"rule {rule!r}: {message}", query, position)
        self.rule = rule


class RuleSet:
    """Rules compiled for matching; immutable and safe to share between threads."""

    def __init__(self, rules: list[Rule]) -> None:
        self._rules = rules
        self._names = tuple(r.name for r in rules)
        self._index = {r.name: i for i, r in reversed(list(enumerate(rules)))}
        self._prefilter = CandidateIndex(rules)
        self._keys = self._prefilter.keys

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def __len__(self) -> int:
        return len(self._rules)

    def candidates(self, item: Item) -> list[int]:
        """Indexes of the rules the prefilter lets through for ``item`` (for tests, benches)."""
        return self._prefilter.candidates(Document(item, self._keys))

    def match(self, item: Item, explain: bool = True) -> list[RuleMatch]:
        """The rules ``item`` matches, in configuration order, with explain data.

        ``explain=False`` leaves ``hits`` empty: matching decides which rules match, and
        explaining (placing the hits in the original text) costs more than matching; a caller
        can ask ``explain(item, rule)`` for the matches it keeps.
        """
        d = Document(item, self._keys)
        rules = self._rules
        out = []
        for i in self._prefilter.candidates(d):
            rule = rules[i]
            d.steps = MAX_RULE_STEPS  # each rule has its own budget for this item
            if rule.test(d):
                out.append(RuleMatch(rule.name, rule.explain(d) if explain else ()))
        return out

    def explain(self, item: Item, rule: str) -> tuple[FieldHit, ...]:
        """The explain data of rule ``rule`` (a name in ``names``) for ``item``: what
        ``match(item)`` puts in that rule's ``RuleMatch.hits``; empty if it does not match.

        Raises ``KeyError`` for an unknown rule name.
        """
        compiled = self._rules[self._index[rule]]
        d = Document(item, self._keys)
        return compiled.explain(d) if compiled.test(d) else ()


def compile_rules(rules: Sequence[RuleSpec]) -> RuleSet:
    """Parse and compile ``rules`` into one ``RuleSet``.

    Raises ``RuleSyntaxError`` (a ``QuerySyntaxError``; ``.rule`` names the rule) for a query
    that does not parse or an unknown stemmer language.
    """
    compiled = []
    for spec in rules:
        try:
            query = parse_query(spec.query)
        except QuerySyntaxError as err:
            raise RuleSyntaxError(spec.name, err.message, err.query, err.position) from None
        lang = None
        if spec.stem:
            try:
                stemmer(spec.stem)  # registers the language's stem function in ``STEMS``
            except ValueError as err:
                raise RuleSyntaxError(spec.name, str(err), spec.query, 0) from None
            lang = spec.stem.strip().lower()
        compiled.append(Rule(spec, query, lang))
    return RuleSet(compiled)
