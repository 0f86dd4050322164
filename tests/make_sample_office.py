"""Write the office files and the e-book of `sample_corpus/`.

    .venv/bin/python -m tests.make_sample_office      # needs LibreOffice (soffice)

The .docx and .pptx are written by LibreOffice from the sources below (HTML and
flat OpenDocument), so they are files a real office program made; the .epub is
built here as an EPUB 3 (XHTML chapters, a navigation document), the way e-book
tools lay one out. The committed files are what the tests use: nothing here
runs during the tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from html import escape
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"

PROPOSAL_HTML = """<html><head><meta charset="utf-8">
<title>Proposal: a second telescope for the East Dome</title></head><body>
<h1>Proposal: a second telescope for the East Dome</h1>
<p>Prepared for the Tessaly Sky Trust by the Skarnhold instrument committee. This paper
proposes a small second telescope in the empty East Dome, built in 1971 for a camera
that was never bought.</p>
<h2>Why a second telescope</h2>
<p>Maribel is booked for spectroscopy on most clear nights, which leaves no time for
the school visits and the variable-star watch. A 60-centimetre reflector in the East
Dome would take both.</p>
<h2>The instrument</h2>
<p>The committee recommends a telescope from Calloway Optical of Sternmoor, whose
quotation is attached. Staff have already chosen a name: the new telescope would be
called Little Ardith, after the first night assistant's daughter.</p>
<h2>Costs</h2>
<table>
<tr><td>Item</td><td>Cost</td></tr>
<tr><td>Telescope and mount</td><td>212,000 Veldan crowns</td></tr>
<tr><td>New cupola for the East Dome</td><td>86,500 Veldan crowns</td></tr>
<tr><td>Camera and filters</td><td>41,250 Veldan crowns</td></tr>
</table>
<h2>Timetable</h2>
<p>If the board agrees in the spring, the cupola would be fitted in the summer and the
telescope would see first light before the autumn equinox.</p>
</body></html>
"""

TALK_SLIDES = [
    (
        "Skarnhold Winter School 2024",
        "Observing in the cold: what the students learned\n"
        "Twenty-three students came up the funicular for the week",
        "Welcome everyone, and thank the Bothy kitchen.",
    ),
    (
        "Frost on the optics",
        "Dew heaters on before the dome opens\n"
        "The students named the frost gauge on the north pier Old Rime",
        None,
    ),
    (
        "Staying warm",
        "Three layers, two pairs of gloves, one flask\nBreaks every ninety minutes",
        "For the third hour of observing I recommend oatcakes with heather honey.",
    ),
    ("Questions", "Ask the duty astronomer in the control room", None),
]

GUIDE_TITLE = "A Field Guide to the Summit of Orrin Tor"
GUIDE_CHAPTERS = [
    (
        "Flowers of the ridge",
        "<p>The summit ridge is bare rock for most of the year, but in June the turf beside "
        "the funicular's upper station turns blue with Tessaly's gentian, a flower named for "
        "the founder of the Trust.</p><p>The botanist Ilse Marrack counted thirty-eight "
        "species of moss on the ridge between the domes and the weather mast.</p>",
    ),
    (
        "Birds of the summit",
        "<p>Ravens patrol the ridge all year and steal anything left outside the Bothy. In "
        "summer a colony of crag martins nests under the eaves of the generator hut; staff "
        "are asked not to use the hut's east door until the young have flown.</p>",
    ),
    (
        "Walking safely",
        "<p>Keep to the marked path between the cairns. When the cloud comes down, wait at "
        "the nearest cairn rather than guessing the way.</p>",
    ),
]


def _fodp(slides: list[tuple[str, str, str | None]]) -> str:
    """A flat OpenDocument presentation with a title and an outline on each slide."""
    ns = " ".join(
        f'xmlns:{p}="urn:oasis:names:tc:opendocument:xmlns:{u}"'
        for p, u in [
            ("office", "office:1.0"),
            ("text", "text:1.0"),
            ("draw", "drawing:1.0"),
            ("presentation", "presentation:1.0"),
            ("svg", "svg-compatible:1.0"),
            ("style", "style:1.0"),
        ]
    )
    pages = []
    for number, (title, body, notes) in enumerate(slides, 1):
        lines = "".join(f"<text:p>{escape(line)}</text:p>" for line in body.split("\n"))
        note = (
            '<presentation:notes><draw:frame presentation:class="notes" draw:layer="layout"'
            ' svg:x="1cm" svg:y="15cm" svg:width="18cm" svg:height="8cm"><draw:text-box>'
            f"<text:p>{escape(notes)}</text:p></draw:text-box></draw:frame></presentation:notes>"
            if notes
            else ""
        )
        pages.append(
            f'<draw:page draw:name="page{number}" draw:master-page-name="Default"'
            ' presentation:presentation-page-layout-name="AL1T2">'
            '<draw:frame presentation:class="title" draw:layer="layout"'
            ' presentation:style-name="Default-title" svg:x="1cm" svg:y="1cm" svg:width="24cm"'
            f' svg:height="3cm"><draw:text-box><text:p>{escape(title)}</text:p></draw:text-box>'
            '</draw:frame><draw:frame presentation:class="outline" draw:layer="layout"'
            ' presentation:style-name="Default-outline1" svg:x="1cm" svg:y="5cm"'
            f' svg:width="24cm" svg:height="12cm"><draw:text-box>{lines}</draw:text-box>'
            f"</draw:frame>{note}</draw:page>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document {ns} office:version="1.3"'
        ' office:mimetype="application/vnd.oasis.opendocument.presentation"><office:styles/>'
        '<office:master-styles><style:master-page style:name="Default"/></office:master-styles>'
        f"<office:body><office:presentation>{''.join(pages)}</office:presentation>"
        "</office:body></office:document>"
    )


def _epub(title: str, chapters: list[tuple[str, str]]) -> bytes:
    """An EPUB 3: one XHTML file per chapter, an OPF package and a navigation document."""
    xhtml = '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
    files = {f"chapter{n}.xhtml": (name, body) for n, (name, body) in enumerate(chapters, 1)}
    items = "".join(
        f'<item id="c{n}" href="{name}" media-type="application/xhtml+xml"/>'
        for n, name in enumerate(files, 1)
    )
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(1, len(files) + 1))
    toc = "".join(f'<li><a href="{name}">{escape(t)}</a></li>' for name, (t, _) in files.items())
    buffer = Path(tempfile.mkdtemp()) / "book.epub"
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:'
            'opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/book.opf"'
            ' media-type="application/oebps-package+xml"/></rootfiles></container>',
            compress_type=zipfile.ZIP_DEFLATED,
        )
        archive.writestr(
            "OEBPS/book.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"'
            ' unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="id">skarnhold-field-guide</dc:identifier><dc:title>{escape(title)}'
            "</dc:title><dc:language>en</dc:language></metadata><manifest>"
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
            f"{items}</manifest><spine>{spine}</spine></package>",
            compress_type=zipfile.ZIP_DEFLATED,
        )
        archive.writestr(
            "OEBPS/nav.xhtml",
            f'{xhtml}<head><title>Contents</title></head><body><nav xmlns:epub="http://www.idpf.org'
            f'/2007/ops" epub:type="toc"><ol>{toc}</ol></nav></body></html>',
            compress_type=zipfile.ZIP_DEFLATED,
        )
        for name, (heading, body) in files.items():
            archive.writestr(
                f"OEBPS/{name}",
                f"{xhtml}<head><title>{escape(heading)}</title></head><body>"
                f"<h1>{escape(heading)}</h1>{body}</body></html>",
                compress_type=zipfile.ZIP_DEFLATED,
            )
    return buffer.read_bytes()


def _convert(source: Path, target: str, out: Path) -> Path:
    """`target`: "docx:MS Word 2007 XML" (an extension and LibreOffice's filter name)."""
    subprocess.run(
        ["soffice", "--headless", "--convert-to", target, "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        env={"HOME": str(out), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    return out / f"{source.stem}.{target.split(':')[0]}"


def main() -> None:
    work = Path(tempfile.mkdtemp())
    (work / "east_dome_proposal.html").write_text(PROPOSAL_HTML, encoding="utf-8")
    (work / "winter_school_talk.fodp").write_text(_fodp(TALK_SLIDES), encoding="utf-8")
    docx = _convert(work / "east_dome_proposal.html", "docx:MS Word 2007 XML", work)
    pptx = _convert(work / "winter_school_talk.fodp", "pptx", work)
    shutil.copy(docx, CORPUS / docx.name)
    shutil.copy(pptx, CORPUS / pptx.name)
    (CORPUS / "orrin_tor_field_guide.epub").write_bytes(_epub(GUIDE_TITLE, GUIDE_CHAPTERS))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
