"""How wide GitHub would draw each table of a comment: GFM rendered by cmark-gfm, text measured in a real font.

A table column cannot be narrower than its widest unbreakable run of text (its *min-content*
width): GitHub's comment column is about 880 px wide, and a table wider than that scrolls, so the
column at the right edge (the fix, once) is cut off on screen. :func:`table_widths` renders the
markdown as GitHub does (``cmarkgfm``, GitHub's own cmark fork, with raw HTML kept as GitHub keeps
the ``<details>``, ``<br>``, ``<sub>`` it allows), then measures each table's min-content width:

- a run breaks only at white space and at ``<br>`` (no break at hyphens, slashes or underscores:
  the conservative assumption; browsers may break after a hyphen, never inside a code span's word);
- text in DejaVu Sans 14 px (bold for ``<th>``/``<strong>``), code in DejaVu Sans Mono 12 px
  (GitHub's code is 85 % of 14 px), emoji 20 px each, measured with Pillow when the fonts are on
  the machine (Debian's fonts-dejavu-core); else a documented conservative width per character
  (:data:`FALLBACK_PX`): wider than DejaVu's widest lowercase letters, so the test errs on too wide;
- each cell adds 13 px of padding on each side and 1 px of border (GitHub: ``padding: 6px 13px``).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

#: GitHub's comment body width on a desktop browser (the conversation column).
COMMENT_WIDTH_PX = 880
CELL_PADDING_PX = 2 * 13 + 1
EMOJI_PX = 20.0
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {"text": ("DejaVuSans.ttf", 14), "bold": ("DejaVuSans-Bold.ttf", 14), "code": ("DejaVuSansMono.ttf", 12)}
#: Per character, when the DejaVu fonts are missing: DejaVu Sans 14 px averages ~7.5 px a letter
#: (bold ~8.5), DejaVu Sans Mono 12 px is 7.2 px a character; these round up.
FALLBACK_PX = {"text": 9.0, "bold": 10.0, "code": 7.5}


def render_gfm(markdown: str) -> str:
    """The HTML GitHub makes of a comment (tables, task lists, autolinks; raw HTML kept)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


@functools.cache
def _font(style: str):  # type: ignore[no-untyped-def]
    try:
        from PIL import ImageFont
    except ImportError:
        return None
    name, size = FONTS[style]
    path = FONT_DIR / name
    return ImageFont.truetype(str(path), size) if path.is_file() else None


def measured_with() -> str:
    """Which measure is in use, for a test's message."""
    return "Pillow + DejaVu" if _font("text") is not None else "fallback widths per character"


def _is_emoji(ch: str) -> bool:
    return ord(ch) >= 0x1F000 or 0x2600 <= ord(ch) <= 0x27BF or 0x2B00 <= ord(ch) <= 0x2BFF or ch in "⏳⏭⛔⌛"


def text_width(text: str, style: str) -> float:
    """Pixels of ``text`` in ``style`` (text, bold, code)."""
    width, plain = 0.0, []
    for ch in text:
        if ch == "\ufe0f" or unicodedata.category(ch) == "Mn":
            continue
        if _is_emoji(ch):
            width += EMOJI_PX
        else:
            plain.append(ch)
    font = _font(style)
    chunk = "".join(plain)
    if font is not None:
        return width + float(font.getlength(chunk))
    return width + FALLBACK_PX[style] * len(chunk)


@dataclass
class Table:
    header: list[str] = field(default_factory=list)
    #: Each row's cells' min-content widths (header first).
    rows: list[list[float]] = field(default_factory=list)

    @property
    def columns(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def column_widths(self) -> list[float]:
        return [max((r[i] for r in self.rows if i < len(r)), default=0.0) for i in range(self.columns)]

    @property
    def width(self) -> float:
        return sum(w + CELL_PADDING_PX for w in self.column_widths()) + 1

    def widest_words(self) -> str:
        return ", ".join(f"{h or '(blank)'}: {w:.0f}px" for h, w in zip(self.header, self.column_widths()))


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self._stack: list[Table] = []
        self._row: list[float] | None = None
        self._cell_words: list[float] | None = None
        self._word = 0.0
        self._header_text: list[str] = []
        self._styles: list[str] = []
        self._in_th = False

    # A word is a run between break opportunities; its width sums its pieces in their own fonts.
    def _end_word(self) -> None:
        if self._cell_words is not None and self._word:
            self._cell_words.append(self._word)
        self._word = 0.0

    def _style(self) -> str:
        if "code" in self._styles:
            return "code"
        return "bold" if self._in_th or "strong" in self._styles else "text"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._stack.append(Table())
        elif tag == "tr" and self._stack:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell_words, self._word, self._in_th = [], 0.0, tag == "th"
            self._header_text = []
        elif tag == "br":
            self._end_word()
        elif tag in ("code", "strong", "b"):
            self._styles.append("code" if tag == "code" else "strong")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "strong", "b") and self._styles:
            self._styles.pop()
        elif tag in ("td", "th") and self._cell_words is not None and self._row is not None:
            self._end_word()
            self._row.append(max(self._cell_words, default=0.0))
            if tag == "th" and self._stack:
                self._stack[-1].header.append("".join(self._header_text).strip())
            self._cell_words, self._in_th = None, False
        elif tag == "tr" and self._row is not None and self._stack:
            self._stack[-1].rows.append(self._row)
            self._row = None
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        if self._cell_words is None:
            return
        if self._in_th:
            self._header_text.append(data)
        pieces = data.split(" ") if data else []
        for i, piece in enumerate(pieces):
            if i:
                self._end_word()
            for j, part in enumerate(piece.split("\n")):
                if j:
                    self._end_word()
                self._word += text_width(part.replace("\t", ""), self._style())


def table_widths(markdown: str) -> list[Table]:
    """Every table of the rendered comment, with its min-content width."""
    parser = _TableParser()
    parser.feed(render_gfm(markdown))
    return parser.tables
