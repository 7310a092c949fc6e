"""The shipped rules coalition-exit and ultimatum: quality on our own labeled set, the
phrasings and look-alikes named in the issue, and an article like the seed article."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.evaluation import evaluate, make_item, read_labels
from monitor.config import load_config
from monitor.query import RuleSet
from monitor.runtime.compose import compile_config_rules

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "monitor.yaml"
LABELS = ROOT / "tests" / "fixtures" / "rules_labeled.jsonl"
RULES = ("coalition-exit", "ultimatum")


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return compile_config_rules(load_config(CONFIG, env={}))


def matched(rules: RuleSet, title: str, summary: str = "", content: str = "") -> set[str]:
    item = make_item(title=title, summary=summary, content=content)
    return {m.rule for m in rules.match(item)}


def test_fixture_is_large_and_covers_both_rules_in_four_languages() -> None:
    labeled = read_labels(LABELS)
    assert len(labeled) >= 80
    assert {entry.item.lang for entry in labeled} >= {"en", "ur", "es", "it"}
    for rule in RULES:
        values = [entry.labels[rule] for entry in labeled]
        assert values.count(True) >= 20
        assert values.count(False) >= 40


@pytest.mark.parametrize("rule", RULES)
def test_precision_and_recall_on_own_labeled_set(rules: RuleSet, rule: str) -> None:
    (score,) = evaluate(rules, read_labels(LABELS), [rule])
    misses = [entry.item.title for entry in score.misses]
    alarms = [entry.item.title for entry in score.false_alarms]
    assert score.precision >= 0.9, f"{rule}: false alarms {alarms}"
    assert score.recall >= 0.9, f"{rule}: misses {misses}"


COALITION_EXIT_MATCH = [
    "Junior partner might soon separate from the ruling coalition, its chief says",
    "Regional party pulls its ministers out of the cabinet",
    "Centrist party withdraws support for the government ahead of confidence vote",
    "Small party parts ways with the governing alliance over mining law",
    "Farmers' League quits the ruling coalition",
    "Independent bloc splits from governing alliance",
    "Three ministers resign as regional party pulls out of the cabinet",
    "Coalition ally threatens to leave the government over fuel prices",
    "Nationalists expelled from the coalition by their partners",
    "Kingmaker party snaps ties with the ruling coalition",
    "اتحادی جماعت نے حکومت سے علیحدگی کا اعلان کر دیا",
    "El partido abandona la coalición de gobierno",
    "Il partito esce dalla maggioranza di governo",
]

COALITION_EXIT_NO_MATCH = [
    "Exit polls show the governing coalition narrowly ahead",
    "Exit poll: ruling alliance set to keep its majority",
    "US-led coalition airstrikes hit militant hideouts",
    "Country pulls its jets out of the military coalition against militants",
    "Britain leaves the European Union after the Brexit vote",
    "Country threatens to quit NATO alliance",
    "Three states announce their withdrawal from a regional bloc",
    "Two parties agree to form a coalition government",
    "Regional party joins the ruling coalition",
    "Health minister resigns from the government over a hospital scandal",
    "Tech companies quit climate coalition",
    "Charity withdraws from NGO alliance on refugee aid",
    "Opposition stages walkout from parliament session",
    "Ministers walk out of cabinet meeting but stay in government",
    "Government withdraws controversial media bill",
    "Cricket board names squad for home series",
]

ULTIMATUM_MATCH = [
    "Opposition sets a 48-hour deadline for the government to accept its demands",
    "Unions give government 48-hour ultimatum over fuel prices",
    "Traders give city council a 24-hour ultimatum over market fees",
    "Rebels reject the ultimatums and refuse to disarm",
    "Protesters give authorities three days to free detainees or face a sit-in",
    "Transporters threaten strike unless tolls are cut by Monday",
    "اپوزیشن نے حکومت کو تین دن کا الٹی میٹم دے دیا",
    "Los sindicatos dan un ultimátum de 72 horas al Gobierno",
    "I sindacati lanciano un ultimatum al governo",
]

ULTIMATUM_NO_MATCH = [
    "Ultimate Frisbee championship draws record crowds",
    "The Ultimatum returns to Netflix for a new season",
    "Reality show The Ultimatum: Marry or Move On announces its cast reunion",
    "Deadline for filing income tax returns extended by two weeks",
    "Voter registration deadline is Friday, election commission says",
    "Bill payment deadline extended after system outage",
    "Doctors begin 48-hour strike over unpaid wages",
    "Weather office warns of heavy rain within 48 hours",
    "Ultimately, the talks ended without a deal",
    "Cricket board names squad for home series",
]


@pytest.mark.parametrize("title", COALITION_EXIT_MATCH)
def test_coalition_exit_matches(rules: RuleSet, title: str) -> None:
    assert "coalition-exit" in matched(rules, title)


@pytest.mark.parametrize("title", COALITION_EXIT_NO_MATCH)
def test_coalition_exit_stays_quiet(rules: RuleSet, title: str) -> None:
    assert "coalition-exit" not in matched(rules, title)


@pytest.mark.parametrize("title", ULTIMATUM_MATCH)
def test_ultimatum_matches(rules: RuleSet, title: str) -> None:
    assert "ultimatum" in matched(rules, title)


@pytest.mark.parametrize("title", ULTIMATUM_NO_MATCH)
def test_ultimatum_stays_quiet(rules: RuleSet, title: str) -> None:
    assert "ultimatum" not in matched(rules, title)


def test_forming_a_coalition_after_an_earlier_exit_is_not_an_exit(rules: RuleSet) -> None:
    title = "Two parties agree to form a new coalition government"
    summary = "The deal comes a month after a third party quit the ruling coalition."
    assert "coalition-exit" not in matched(rules, title, summary)
    assert "coalition-exit" in matched(rules, summary)


def test_an_article_like_the_seed_alerts_on_both_rules(rules: RuleSet) -> None:
    title = "Coalition partner weighs its future in government"
    content = (
        "The chairman of a regional party told a welfare gathering on Saturday that the "
        "party might soon separate from the ruling coalition, and that the moment for a "
        "final decision was approaching. He stressed that the party was not issuing "
        "threats or ultimatums, but making a considered choice based on its principles. "
        "He recalled that the party had once before left a government over what he called "
        "its lack of seriousness, and spoke at length about the party's charity work, its "
        "ambulance service and poverty on the edges of the city."
    )
    assert matched(rules, title, content=content) == {"coalition-exit", "ultimatum"}
