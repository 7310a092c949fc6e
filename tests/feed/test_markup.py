"""Feed field values to plain text: HTML to text, bounded length."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feed.markup import bounded_text, html_to_text, parsed_markup_parts, tidy_markup_text
from monitor.text import remove_controls


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("plain words", "plain words"),
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<b>bold</b> and <i>it</i>alic", "bold and italic"),
        ("Fish &amp; chips &lt;3 &#8212; &eacute;t&eacute;", "Fish & chips <3 — été"),
        ("x<script>alert('<p>no</p>')</script>y", "xy"),
        ("<style>p{}</style><noscript>n</noscript>kept", "kept"),
        ("<ul><li>a</li><li>b</li></ul>", "a\nb"),
        ("  lots \t of\n\n\n   space  ", "lots of\nspace"),
        ("<p>\n  <span>wrapped</span>\n</p>", "wrapped"),
        ("unclosed <b>tag", "unclosed tag"),
        ("a < b and c > d", "a < b and c > d"),
        ("<img src=x>caption", "caption"),
        ("ctl\x00\x1b\x7f\x85chars", "ctlchars"),
        ("", ""),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_bounded_titles() -> None:
    assert bounded_text("<p>Title</p><p>part two</p>", 100, is_html=True, single_line=True) == (
        "Title part two"
    )
    assert bounded_text("x &amp; y", 100, is_html=False) == "x &amp; y"


# The fast path must give html.parser's text exactly, or decline (None).
_TAGS = ["p", "P", "a", "br", "div", "span", "b", "img", "li", "ul", "svg", "head", "h2", "em"]
_PIECES = st.one_of(
    st.text(alphabet="ab &;<>\"'=/!?-\n\t\u00e9", max_size=6),
    st.sampled_from(["&amp;", "&#8217;", "&lt;", "&nbsp;", "&bogus;", "&", "&#x41;", "&amp"]),
    st.builds(lambda t: f"<{t}>", st.sampled_from(_TAGS)),
    st.builds(lambda t: f"</{t}>", st.sampled_from(_TAGS)),
    st.builds(lambda t: f"<{t}/>", st.sampled_from(_TAGS)),
    st.builds(
        lambda t, v: f"<{t} href=\"{v}\" title='x'>",
        st.sampled_from(_TAGS),
        st.text("a/&>", max_size=3),
    ),
    st.sampled_from(
        [
            "<!-- c -->",
            "<![CDATA[x]]>",
            "<!doctype html>",
            "<script>1<2</script>",
            "<style>p{}</style>",
            "<a href=bare>",
            "<p / >",
            "< p>",
            "<?pi?>",
            "</p class='x'>",
            "<title>t</title>",
            "<br />",
        ]
    ),
)


@given(st.lists(_PIECES, max_size=25).map("".join))
@settings(max_examples=600, deadline=None)
def test_tidy_markup_fast_path_equals_html_parser(markup: str) -> None:
    fast = tidy_markup_text(markup)
    if fast is not None:
        assert remove_controls(fast) == remove_controls("".join(parsed_markup_parts(markup)))


def test_the_fast_path_takes_typical_feed_markup() -> None:
    markup = "<p>Prices rose &amp; fell.</p><p>See <a href='/x?a=1&amp;b=2'>this</a>.<br/></p>"
    assert tidy_markup_text(markup) is not None
    assert tidy_markup_text("<script>x</script><p>y</p>") is None
    assert tidy_markup_text("<svg><text>x</text></svg>") is None
