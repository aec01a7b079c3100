"""Markdown written by sellers, rendered to sanitised HTML (markdown-it-py + nh3)."""

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "hr",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


def render_markdown(markdown_text):
    """Markdown → sanitised HTML: no raw HTML, only safe tags, links marked nofollow."""
    return nh3.clean(
        _markdown.render(markdown_text or ""),
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        link_rel="noopener noreferrer nofollow",
    )


# http(s) URLs in plain text, up to whitespace or a character that can't be in one unescaped.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""
_LINK_REL = "nofollow noopener ugc"


def _trim_url(url: str) -> str:
    """A URL found in running text without the punctuation that ends the sentence around it,
    and without a closing bracket it did not open ("(see https://x.test/a)")."""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))):
        url = url[:-1]
    return url


def autolink(text: str | None) -> Markup:
    """Plain text people wrote (an order message) as HTML: everything escaped, and its
    http(s) URLs as links with rel="nofollow noopener ugc" opening in a new tab.

    Only http and https become links (a `javascript:` or `data:` "URL" stays text), and the
    result passes through nh3 allowing nothing but those links, so no markup a person types
    can get through."""
    text = text or ""
    pieces, position = [], 0
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        if not url.partition("://")[2]:
            continue
        pieces.append(escape(text[position : match.start()]))
        pieces.append(Markup('<a href="{0}" target="_blank">{0}</a>').format(url))
        position = match.start() + len(url)
    pieces.append(escape(text[position:]))
    html = nh3.clean(
        str(Markup("").join(pieces)),
        tags={"a"},
        attributes={"a": {"href", "target"}},
        url_schemes={"http", "https"},
        link_rel=_LINK_REL,
    )
    return Markup(html)
