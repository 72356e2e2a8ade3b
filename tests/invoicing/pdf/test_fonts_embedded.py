"""Every glyph comes from an embedded font subset, with its own subset tag.

A PDF whose CJK text relies on the viewer's fonts prints blank or boxes on a
machine without them; the renderer embeds IPAGothic (Japanese) and Droid Sans
Fallback (Chinese, Korean) subsets instead. ISO 32000 (9.6.4) wants distinct
subsets to carry distinct tags.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from invoicing.pdf import render_invoice_pdf
from invoicing.pdf import text as fonts
from invoicing.pdf.locales import SUPPORTED_LOCALES
from invoicing.pdf.samples import sample_jpy_invoice, sample_snapshot
from invoicing.pdf.snapshot import InvoiceSnapshot, MetadataItem
from tests.invoicing.pdf.pdftools import nfkc, pages_text, squash

ROOT = Path(__file__).resolve().parents[3]

JAPANESE = "山田太郎 株式会社やまだ 東京都港区六本木"
SIMPLIFIED = "张伟 北京科技有限公司 发票 银行 联系"
TRADITIONAL = "臺灣積體測試股份有限公司 發票 銀行 聯繫"
KOREAN = "삼성전자 서울특별시 강남구 테헤란로 청구서"
ARABIC = "شركة الإمارات للتجارة عبد الله"
HEBREW = "חשבונית מס"
# JIS X 0213 kanji beyond the BMP (U+20B9F): ToUnicode needs a surrogate pair.
ASTRAL = "𠮟る"
EVERY_SCRIPT = (JAPANESE, SIMPLIFIED, TRADITIONAL, KOREAN, ARABIC, HEBREW, ASTRAL)

_FONT_ROW = re.compile(r"^(\S+)\s+(.+?)\s+(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$")


def multilingual(locale: str, voided: bool = False) -> InvoiceSnapshot:
    """A 3-fee sample whose customer, fees, metadata and footer use every script."""
    base = sample_snapshot(3, locale=locale)
    customer = dataclasses.replace(
        base.customer,
        name=JAPANESE.split()[0] + " " + KOREAN.split()[0],
        legal_name=SIMPLIFIED,
        address=dataclasses.replace(base.customer.address, line1=TRADITIONAL, city=KOREAN),
    )
    fees = tuple(
        dataclasses.replace(fee, display_name=name, description=description)
        for fee, (name, description) in zip(
            base.fees,
            ((JAPANESE, SIMPLIFIED), (KOREAN, ARABIC), (HEBREW, ASTRAL)),
            strict=True,
        )
    )
    return dataclasses.replace(
        base,
        customer=customer,
        fees=fees,
        metadata=(MetadataItem("契約", TRADITIONAL), MetadataItem("عقد", ARABIC)),
        invoice_footer="\n".join(EVERY_SCRIPT),
        status="voided" if voided else base.status,
    )


def pdffonts(pdf: bytes) -> list[tuple[str, str, str, str, str]]:
    """(name, type, emb, sub, uni) of every font object in the PDF."""
    out = subprocess.run(
        ["pdffonts", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    rows = []
    for line in out.splitlines()[2:]:
        match = _FONT_ROW.match(line)
        assert match, line
        name, rest, emb, sub, uni = match.groups()
        rows.append((name, rest.split()[0], emb, sub, uni))
    return rows


def embedded_programs(pdf: bytes) -> dict[str, bytes]:
    """BaseFont name -> digest of its embedded font program."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    programs: dict[str, bytes] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            program = font["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            programs[str(font["/BaseFont"])[1:]] = hashlib.sha256(program).digest()
    return programs


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_font_is_an_embedded_subset_with_its_own_tag(locale: str) -> None:
    pdf = render_invoice_pdf(multilingual(locale, voided=locale in ("ja", "ar")))
    rows = pdffonts(pdf)
    assert rows
    for name, kind, emb, sub, uni in rows:
        assert (kind, emb, sub, uni) == ("TrueType", "yes", "yes", "yes"), name
        assert re.fullmatch(r"[A-Z]{6}\+[A-Za-z0-9-]+", name), name
    names = [row[0] for row in rows]
    tags = [name.split("+")[0] for name in names]
    assert len(set(tags)) == len(tags), names  # one tag per subset, whatever the font
    families = {name.split("+")[1] for name in names}
    assert {"DejaVuSans", "DejaVuSans-Bold", "IPAGothic", "DroidSansFallback"} <= families
    # Nothing the fonts lack was drawn as .notdef (read back as NUL).
    assert "\x00" not in "".join(pages_text(pdf))


def test_text_in_every_script_reads_back() -> None:
    pdf = render_invoice_pdf(multilingual("en"))
    text = nfkc(squash("".join(pages_text(pdf))))
    for sample in (JAPANESE, SIMPLIFIED, TRADITIONAL, KOREAN, ASTRAL):
        assert squash(sample) in text, sample
    assert "\ufffd" not in text


@pytest.mark.parametrize("locale", ["ja", "zh_CN", "zh_TW"])
def test_cjk_sample_pages_read_back(locale: str) -> None:
    snapshot = sample_jpy_invoice() if locale == "ja" else sample_snapshot(2, locale=locale)
    pdf = render_invoice_pdf(snapshot)
    names = {row[0].split("+")[1] for row in pdffonts(pdf)}
    assert names & {"IPAGothic", "DroidSansFallback"}
    text = squash("".join(pages_text(pdf)))
    from invoicing.pdf.locales import LABELS

    for key in ("invoice", "due_date", "total_due"):
        assert squash(LABELS[locale][key]) in text, key


def test_japanese_gets_japanese_glyph_forms_and_chinese_a_chinese_font() -> None:
    """The same Han characters are drawn from IPAGothic on a Japanese
    document or next to kana, from Droid Sans Fallback in Chinese or Korean."""
    snapshot = sample_snapshot(1, locale="ja")
    base = dataclasses.replace(snapshot, invoice_footer="直角 骨")
    japanese = _footer_fonts(base)
    assert japanese == {"IPAGothic"}
    for locale in ("zh_CN", "zh_TW"):
        chinese = _footer_fonts(dataclasses.replace(base, locale=locale))
        assert chinese == {"DroidSansFallback"}
    kana = _footer_fonts(dataclasses.replace(base, locale="en", invoice_footer="骨をおる"))
    assert kana == {"IPAGothic"}
    korean = _footer_fonts(dataclasses.replace(base, locale="en", invoice_footer="骨 삼성"))
    assert korean == {"DroidSansFallback"}


def _footer_fonts(snapshot: InvoiceSnapshot) -> set[str]:
    """Fonts of the characters of the footer text (its CJK ones)."""
    import pdfplumber

    footer = snapshot.invoice_footer
    with pdfplumber.open(io.BytesIO(render_invoice_pdf(snapshot))) as doc:
        chars = doc.pages[0].chars
    wanted = {c for c in footer if not c.isspace()}
    used = {c["fontname"].split("+")[1] for c in chars if c["text"] in wanted}
    assert used, footer
    return used


def test_bold_cjk_is_stroked_as_well_as_filled() -> None:
    """No bold CJK face is vendored: bold CJK text uses text render mode 2."""
    snapshot = dataclasses.replace(sample_snapshot(1, locale="ja"), invoice_footer="")
    reader = pypdf.PdfReader(io.BytesIO(render_invoice_pdf(snapshot)))
    content = reader.pages[0].get_contents().get_data().decode("latin-1")
    assert " 2 Tr" in content  # the bold 請求書 title
    assert content.count(" 2 Tr") == content.count("0 Tr")


def test_same_tag_means_same_subset_across_pdfs() -> None:
    """Tags derive from the subset's content: two PDFs that share a tag
    embed the same font program under it, and different programs never
    share a tag."""
    by_tag: dict[str, bytes] = {}
    snapshots = [multilingual(locale) for locale in ("en", "ja", "zh_CN", "ar")]
    snapshots += [sample_jpy_invoice(), sample_snapshot(2, locale="zh_TW")]
    for snapshot in snapshots:
        for name, digest in embedded_programs(render_invoice_pdf(snapshot)).items():
            assert by_tag.setdefault(name, digest) == digest, name
    digests = list(by_tag.values())
    assert len(set(digests)) == len(digests)
    assert not any(name.startswith(("AAAAAA+", "AAAAAB+")) for name in by_tag)


def test_many_subsets_of_one_font_get_distinct_tags() -> None:
    kanji = (chr(c) for c in range(0x4E00, 0x9FA0))
    many = "".join([c for c in kanji if encodable(c, "euc_jp")][:700])  # > 2 subsets
    snapshot = dataclasses.replace(sample_snapshot(1, locale="ja"), invoice_footer=many)
    names = [row[0] for row in pdffonts(render_invoice_pdf(snapshot))]
    ipa = [name for name in names if name.endswith("+IPAGothic")]
    assert len(ipa) >= 3
    tags = [name.split("+")[0] for name in names]
    assert len(set(tags)) == len(tags), names


def test_cjk_and_arabic_invoices_are_deterministic() -> None:
    for snapshot in (multilingual("ja", voided=True), multilingual("ar"), sample_jpy_invoice()):
        assert render_invoice_pdf(snapshot) == render_invoice_pdf(snapshot)


def test_cjk_invoice_is_identical_across_processes() -> None:
    script = (
        "import hashlib, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from invoicing.pdf import render_invoice_pdf\n"
        "from tests.invoicing.pdf.test_fonts_embedded import multilingual\n"
        "print(hashlib.sha256(render_invoice_pdf(multilingual('zh_TW'))).hexdigest())\n"
    )
    here = hashlib.sha256(render_invoice_pdf(multilingual("zh_TW"))).hexdigest()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            check=True,
            text=True,
            cwd=ROOT,
        )
        assert out.stdout.strip() == here


def test_common_cjk_repertoires_are_covered() -> None:
    """GB2312, Big5, KS X 1001 and JIS X 0208 (their letters and Han): no U+FFFD."""
    fonts.register_fonts()
    for codec, order in (
        ("gb2312", fonts.cjk_order("zh_CN")),
        ("big5", fonts.cjk_order("zh_TW")),
        ("euc_kr", fonts.cjk_order("en")),
        ("euc_jp", fonts.cjk_order("ja")),
    ):
        chars = []
        for code in range(0x3040, 0xFA2E):
            char = chr(code)
            if unicode_letter(char) and encodable(char, codec):
                chars.append(char)
        text = "".join(chars)
        drawn = "".join(chunk for _, chunk in fonts.runs(text, False, order))
        missing = {c for c, d in zip(text, drawn, strict=True) if d == "\ufffd"}
        assert not missing, (codec, "".join(sorted(missing))[:50])


def unicode_letter(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char) in ("Lo", "Lm")


def encodable(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("filename", ["ipag.ttf", "DroidSansFallback.ttf", "DejaVuSans.ttf"])
def test_font_programs_are_what_reportlab_builds(filename: str) -> None:
    """The renderer's faces slice glyphs out of the font file without copying
    its glyf table (text._TableSlicer): the subsets must stay byte for byte
    ReportLab's own, composite glyphs included."""
    import random

    from reportlab.pdfbase.ttfonts import TTFont

    fonts.register_cjk_fonts()
    ours = next(f for f in fonts._fonts.values() if Path(f.face.filename).name == filename)
    stock = TTFont("stock-" + filename, str(fonts.FONT_DIR / filename))
    codes = sorted(stock.face.charToGlyph)
    rng = random.Random(5)
    for size in (1, 40, 250):
        subset = [0, *rng.sample(codes, size)]
        assert ours.face.makeSubset(subset) == stock.face.makeSubset(subset)
