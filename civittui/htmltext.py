"""CivitAI descriptions (HTML from its rich-text editor) as plain text, with the stdlib parser."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
        "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextExtractor(HTMLParser):
    """Collects text; blocks become blank-line-separated paragraphs, `<br>` a line break.

    Breaks are kept pending and merged (the larger wins) until text arrives, so nested blocks
    ("<li><p>…</p></li>", TipTap's usual output) do not pile up empty lines; only `<br>`s add up.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._bullet = False  # a list item started and has no text yet
        self._skip = 0
        self._pre = 0
        self._li = 0
        self._links: list[tuple[str | None, int]] = []

    def _break(self, count: int) -> None:
        self._pending = max(self._pending, count)

    def _block(self) -> None:
        # Paragraphs get a blank line between them, except inside a list item.
        self._break(1 if self._li else 2)

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self.out and self._pending:
            self.out.append("\n" * self._pending)
        self._pending = 0
        if self._bullet:
            self.out.append("  " * (self._li - 1) + "- ")
            self._bullet = False
            text = text.lstrip(" ")
        self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._pending = min(self._pending + 1, 2)
        elif tag == "li":
            self._li += 1
            self._break(1)
            self._bullet = True
        elif tag in _BLOCK_TAGS:
            if not self._bullet:
                self._block()
            if tag == "pre":
                self._pre += 1
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._pending = min(self._pending + 1, 2)
        elif tag in _BLOCK_TAGS:
            self._block()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._block()
        elif tag == "li":
            self._li = max(0, self._li - 1)
            self._bullet = False
            self._break(1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            text = "".join(self.out[start:]).strip()
            # Show where a link goes unless its text already says it.
            if href and href.startswith(("http://", "https://")) and href != text:
                self._emit(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self._emit(data)
            return
        text = _SPACES.sub(" ", data)
        if self._pending or not self.out:
            text = text.lstrip(" ")
        self._emit(text)


def html_to_text(html: str | None) -> str:
    """Turn a CivitAI description (HTML) into plain text.

    Paragraphs and other blocks are separated by a blank line, `<br>` breaks a line, list items
    start with "- ", links keep their URL in parentheses, tags are dropped and entities decoded.

    Args:
        html: the description, or None.

    Returns:
        The text, stripped; "" for None or empty input.
    """
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.out).split("\n")]
    return "\n".join(lines).strip()
