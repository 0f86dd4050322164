"""EPUB: the chapters in spine order, their `h1`-`h6` as headings.

Chapters are XHTML. A plain `<!DOCTYPE html ...>` (EPUB 2 has one in every
chapter) is dropped before parsing; one with an internal subset (where entities
are declared) is refused. HTML named entities (`&nbsp;`) are replaced by their
characters first, since XML knows only five.
"""

from __future__ import annotations

import html
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from .office import no_text
from .parts import Budget, Extract, TextBuilder, attr, local, open_zip, parse_xml, tidy

_PLAIN_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*>", re.IGNORECASE)
_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_SKIP = frozenset({"head", "script", "style", "nav", "svg", "math", "template"})
_BLOCKS = frozenset(
    "p div section article header footer aside main blockquote pre ul ol dl li dt dd"
    " table tr caption figure figcaption address hr br body".split()
)
_SPACE = re.compile(r"\s+")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def unquote(href: str) -> str:
    """A percent-encoded href as a part name ("My%20Book.xhtml" -> "My Book.xhtml");
    written here because only ollama.py may import network modules such as urllib."""
    raw = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), href.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


def read_epub(budget: Budget, data: bytes) -> Extract:
    archive = open_zip(budget.path, data, "EPUB")
    opf_name = _package_name(budget, archive)
    opf = parse_xml(budget, budget.unzip(archive, opf_name), opf_name)
    folder = posixpath.dirname(opf_name)
    chapters = _spine(opf, folder)
    _refuse_drm(budget, archive, chapters)
    toc = _toc(budget, archive, opf, folder)
    out = TextBuilder(budget)
    for number, name in enumerate(chapters, 1):
        budget.check_time(f"chapter {number} of {len(chapters)}")
        if name not in archive.NameToInfo:
            continue
        headings, chapter = len(out.headings), _Chapter(out)
        chapter.read(_xhtml(budget, budget.unzip(archive, name), name))
        if name in toc and len(out.headings) == headings and chapter.paragraphs:
            level, label = toc[name]  # no h1-h6 inside: its title in the table of contents
            out.heading(level, label, at=chapter.offset_of(label))
    if out.empty():
        raise no_text(budget, "EPUB")
    title = next(
        (" ".join((el.text or "").split()) for el in opf.iter() if local(el.tag) == "title"), None
    )
    return out.result(title or None)


def _package_name(budget: Budget, archive: zipfile.ZipFile) -> str:
    """Where the package document (.opf) is, from META-INF/container.xml."""
    name = "META-INF/container.xml"
    container = parse_xml(budget, budget.unzip(archive, name), name)
    for element in container.iter():
        if local(element.tag) == "rootfile" and element.get("full-path"):
            return element.get("full-path", "")
    raise budget.fail("EPUB names no package document in META-INF/container.xml", "--exclude it")


def _spine(opf: ET.Element, folder: str) -> list[str]:
    """The chapters' part names, in reading order."""
    hrefs = {
        item.get("id"): item.get("href", "")
        for item in opf.iter()
        if local(item.tag) == "item" and "html" in (item.get("media-type") or "")
    }
    names = []
    for ref in opf.iter():
        href = hrefs.get(ref.get("idref")) if local(ref.tag) == "itemref" else None
        if href and ref.get("linear") != "no":
            names.append(posixpath.normpath(posixpath.join(folder, unquote(href.split("#")[0]))))
    return names


def _toc(budget: Budget, archive: zipfile.ZipFile, opf: ET.Element, folder: str) -> dict:
    """Chapter part name -> (level, title) of its first entry in the table of contents:
    the EPUB 3 navigation document, else the EPUB 2 NCX."""
    items = [item for item in opf.iter() if local(item.tag) == "item"]
    nav = next((i for i in items if "nav" in (i.get("properties") or "").split()), None)
    ncx = next((i for i in items if i.get("media-type") == "application/x-dtbncx+xml"), None)
    chosen = nav if nav is not None else ncx
    if chosen is None:
        return {}
    name = posixpath.normpath(posixpath.join(folder, unquote(chosen.get("href", ""))))
    if name not in archive.NameToInfo:
        return {}
    root = _xhtml(budget, budget.unzip(archive, name), name)
    entries: dict[str, tuple[int, str]] = {}
    base = posixpath.dirname(name)
    for level, href, label in _toc_entries(root, 0):
        target = posixpath.normpath(posixpath.join(base, unquote(href.split("#")[0])))
        if label and target not in entries:
            entries[target] = (min(level, 6), label)
    return entries


def _toc_entries(element: ET.Element, depth: int) -> Iterator[tuple[int, str, str]]:
    """(depth, href, label) of each entry: `li > a` in a nav, `navPoint` in an NCX."""
    for child in element:
        tag = local(child.tag)
        if tag in ("li", "navPoint"):
            link = next((el for el in child.iter() if local(el.tag) in ("a", "content")), None)
            label_of = next((el for el in child.iter() if local(el.tag) in ("a", "text")), None)
            href = (link.get("href") or link.get("src") or "") if link is not None else ""
            label = " ".join("".join(label_of.itertext()).split()) if label_of is not None else ""
            yield depth + 1, href, label
            yield from _toc_entries(child, depth + 1)
        else:
            yield from _toc_entries(child, depth)


def _refuse_drm(budget: Budget, archive: zipfile.ZipFile, chapters: list[str]) -> None:
    """Fonts may be obfuscated (META-INF/encryption.xml lists them); chapters may not."""
    name = "META-INF/encryption.xml"
    if name not in archive.NameToInfo:
        return
    for element in parse_xml(budget, budget.unzip(archive, name), name).iter():
        uri = unquote(attr(element, "URI") or "") if local(element.tag) == "CipherReference" else ""
        if uri and posixpath.normpath(uri) in chapters:
            raise budget.fail("EPUB is encrypted (DRM)", "Only DRM-free e-books can be read")


def _xhtml(budget: Budget, data: bytes, name: str) -> ET.Element:
    data = _PLAIN_DOCTYPE.sub(b"", data, count=1)
    data = _ENTITY.sub(_replace_entity, data)
    return parse_xml(budget, data, name)


def _replace_entity(match: re.Match[bytes]) -> bytes:
    """`&nbsp;` -> the character, escaped for XML; an unknown name -> nothing."""
    if match.group(1) in _XML_ENTITIES:
        return match.group(0)
    reference = match.group(0).decode("ascii")
    text = html.unescape(reference)
    return b"" if text == reference else html.escape(text).encode("utf-8")


class _Chapter:
    """Visible text of one XHTML chapter: blocks become paragraphs, headings headings."""

    def __init__(self, out: TextBuilder) -> None:
        self.out = out
        self.pieces: list[str] = []
        self.cells = 0  # depth of open table cells: blocks inside one stay on its line
        self.paragraphs: list[tuple[int, str]] = []  # (offset, text) of those written

    def offset_of(self, label: str) -> int:
        """Where the paragraph reading `label` starts, else where the chapter does."""
        wanted = label.casefold()
        found = (at for at, text in self.paragraphs if text.casefold() == wanted)
        return next(found, self.paragraphs[0][0])

    def read(self, root: ET.Element) -> None:
        self._walk(root)
        self._flush()

    def _walk(self, element: ET.Element) -> None:
        tag = local(element.tag)
        if tag in _SKIP or attr(element, "type") == "pagebreak" and not element.text:
            return
        if tag in _HEADINGS:
            self._flush()
            self.out.heading(_HEADINGS[tag], "".join(element.itertext()))
            return
        block = tag in _BLOCKS and not self.cells
        self.cells += tag in ("td", "th")
        if block:
            self._flush(tag in ("br", "tr", "li", "dt", "dd"))
        if tag == "img" and element.get("alt"):
            self.pieces.append(f" {element.get('alt')} ")
        self.pieces.append(_SPACE.sub(" ", element.text or ""))
        for child in element:
            self._walk(child)
            self.pieces.append(_SPACE.sub(" ", child.tail or ""))
        if tag in ("td", "th"):
            self.cells -= 1
            self.pieces.append(" | ")
        elif self.cells and tag in _BLOCKS:
            self.pieces.append(" ")
        if block:
            self._flush(tag in ("tr", "li", "dt", "dd"))

    def _flush(self, line: bool = False) -> None:
        """End the current block: a paragraph, or (`line`) a line of the next one."""
        text = "".join(self.pieces)
        if line:
            self.pieces = [text.rstrip(" |"), "\n"] if text.strip() else []
            return
        self.pieces = []
        text = "\n".join(line.strip(" |") for line in tidy(text).split("\n")).strip()
        if text:
            self.paragraphs.append((self.out.paragraph(text), text))
