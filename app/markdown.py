"""Markdown written by sellers, rendered to sanitised HTML (markdown-it-py + nh3)."""

import nh3
from markdown_it import MarkdownIt

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
