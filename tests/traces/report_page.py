"""The tla report page read back: its tables by id and its images (tests only)."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Tables by id (rows of cell texts, the head first), images' src, scripts, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.outside: list[str] = []  # any src/href that is not a data: URI
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name) and not a[name].startswith("data:"):
                self.outside.append(a[name])
        if tag == "script":
            self.scripts += 1
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
