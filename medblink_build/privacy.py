"""The value gate: no identifying value of an input may reach a row, the card or the manifest.

This is the second line of defence. The first is that only controlled values leave a build
(recipe vocabulary, computed numbers, digests, pseudonymised paths: `vocabulary.py`,
`pseudonym.py`). The gate collects what could identify a patient from every input of an item and
searches every text the item contributes to the output for it; at the end of a build it searches
every byte of the output folder for the identifiers of every item that took part.

What is collected:
- DICOM: every attribute of the PS3.15 Basic Application Level Confidentiality Profile, as the
  `dicom-anonymizer` package ships the standard's table (Table E.1-1, release 2026c), anywhere in
  the dataset (nested sequences included), and every private attribute holding text.
- PNG tEXt/zTXt/iTXt chunks and TIFF text tags (ImageDescription, Artist, ...): "Key: value" lines
  whose key names a DICOM attribute are treated as that attribute, any other text as free text.
- For sources whose paths are not public: the parts of each input's relative path.

How values are matched: names as `Last^First`, `First Last`, `LAST, FIRST` and each part of two
or more letters as a whole word; dates as DA and printed forms (`04/05/1923`, `1923-04-05`,
`05.04.1923`); IDs with or without separators; other text as the whole value and, for free text,
its capitalised words. Case is ignored. Coded strings (CS) and numbers (DS, IS, binary) are not
searched: a weight or a sex code alone does not identify, and numbers are what recipes compute.
Words of COMMON_WORDS are never identifying on their own, so a patient called "Chest" does not
stop a chest X-ray build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import MedblinkError
from .fsnames import open_regular
from .vocabulary import CONTROLLED_COLUMNS, IDENTIFYING_COLUMN, is_controlled, strings_in

#: Release of the PS3.15 table read from dicom-anonymizer.
PROFILE_RELEASE = "dicomfields_2026c"

#: Values shorter than this (separators not counted) are not searched, except name parts.
MIN_LENGTH = 4
#: Name parts need this many letters.
MIN_NAME_PART = 2

#: Words never identifying on their own: anatomy, views, phases, modalities, folder words and the
#: commonest English words. A name part that is one of these is not searched (the rest of the
#: name still is); a value made only of these words is not searched either.
COMMON_WORDS = frozenset(
    """
    a an and are as at be by for from in is it of on or the to with no yes not none unknown other
    left right upper lower front back top bottom anterior posterior superior inferior lateral medial
    chest thorax lung lungs heart abdomen pelvis hip hips hand hands leg legs arm knee foot head neck
    spine brain skull liver kidney kidneys spleen colon breast skin teeth tooth dental bone bones
    shoulder wrist ankle elbow body whole mouth face eye stomach bladder prostate uterus
    pa ap ll rl lat lateral oblique axial sagittal coronal view supine prone erect portable
    arterial venous portal delayed native phase contrast plain non early late
    ct mr mri us xa cr dx dr rf mg nm pt sc ot xr xray x ray ultrasound endoscopy histology
    image images img data dicom raw series study studies scan scans frame frames mask masks label
    labels train test val valid validation case cases patient patients subject subjects file files
    sample samples volume volumes slice slices png jpg jpeg tif tiff nii gz dcm
    anonymous anonymized anonymised phantom synthetic deidentified removed
    window level lung bone soft tissue routine protocol localizer scout topogram thin thick recon
    reconstruction standard sharp smooth kernel mediastinum dose low high enhanced pre post without
    iv oral delay equilibrium nephrographic excretory cine report summary screen capture color colour
    doppler mode depth gain probe marker markers rotation rotated degrees orientation upright display
    question answer choice which closer deeper count number age years months slice representative
    transform resize crop flip region tile class segment structure organ vessel tumor tumour lesion
    normal abnormal benign malignant test train fold split part series_description
    """.split()
)

#: Value representations that are searched, and how.
_NAME_VRS = {"PN"}
_DATE_VRS = {"DA"}
_DATETIME_VRS = {"DT"}
_TIME_VRS = {"TM"}
_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "UI", "AE", "UR", "AS"}
_FREE_TEXT_VRS = {"ST", "LT", "UT", "LO"}

_TITLE = r"(?<![A-Za-z])(?:Dr|Dres|Prof|Mr|Mrs|Ms|Miss|Doctor|Professor|Sr|Fr)\.?\s+"
_BOUNDARY_BEFORE = r"(?<![A-Za-z0-9])(?<![0-9][.,])"
_BOUNDARY_AFTER = r"(?![A-Za-z0-9])(?![.,][0-9])"
_SEPARATORS = r"[\s\-_./:]?"


class PrivacyError(MedblinkError):
    """An identifying value from an input file was about to be written to the output."""


@dataclass(frozen=True)
class Identifier:
    """One thing that must not be written: a regular expression and where the value came from.

    `origin` names the attribute and the file, never the value, so it can be reported.
    `probe` is a lower-case word the text must contain for the pattern to have a chance (a cheap
    pre-filter), or "" when none can be given.
    """

    pattern: str
    origin: str
    probe: str = ""

    @property
    def attribute(self) -> str:
        return self.origin.split(" of ")[0]


@cache
def confidentiality_tags() -> frozenset[int]:
    """The tags of the PS3.15 Basic Application Level Confidentiality Profile (all actions).

    Read at run time from dicom-anonymizer's copy of the standard's table; the three repeating
    groups (curves, overlays) are matched by group mask in `_in_profile`.
    """
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    from pydicom.tag import Tag

    table = dicom_anonymization_database_selector(PROFILE_RELEASE)["ALL_TAGS"]
    return frozenset(int(Tag(t[0], t[1])) for t in table if len(t) == 2)


@cache
def _repeating_groups() -> tuple[tuple[int, int, int, int], ...]:
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    table = dicom_anonymization_database_selector(PROFILE_RELEASE)["ALL_TAGS"]
    return tuple(tuple(t) for t in table if len(t) == 4)  # type: ignore[misc]


def _in_profile(tag: int) -> bool:
    if tag in confidentiality_tags():
        return True
    group, element = tag >> 16, tag & 0xFFFF
    return any(
        group & gmask == g and element & emask == e for g, e, gmask, emask in _repeating_groups()
    )  # e.g. overlay comments (60xx,4000)


def _common(text: str) -> bool:
    words = re.findall(r"[A-Za-z]+", text.lower())
    return bool(words) and all(w in COMMON_WORDS for w in words) and not re.search(r"\d{2}", text)


def _word(value: str, origin: str) -> Identifier | None:
    value = value.strip()
    if len(re.sub(r"[^A-Za-z0-9]", "", value)) < MIN_LENGTH or _common(value):
        return None
    if re.search(r"[A-Za-z]", value) and is_controlled(value):
        return None  # a vocabulary term the recipe may write (an agent, an anatomy), not an identifier
    probe = max(re.findall(r"[a-z0-9]+", value.lower()) or [""], key=len)
    return Identifier(_BOUNDARY_BEFORE + re.escape(value).replace(r"\ ", r"\s+") + _BOUNDARY_AFTER, origin, probe)


def _id_forms(value: str, origin: str) -> list[Identifier]:
    """An ID with digits, matched with or without separators between its characters."""
    compact = re.sub(r"[^A-Za-z0-9]", "", value)
    if len(compact) < MIN_LENGTH or not re.search(r"\d", compact) or _common(value):
        return []
    pattern = _SEPARATORS.join(re.escape(c) for c in compact)
    return [Identifier(_BOUNDARY_BEFORE + pattern + _BOUNDARY_AFTER, origin)]


def name_forms(value: str, origin: str) -> list[Identifier]:
    """A person name (DICOM PN `Last^First^Middle^Prefix^Suffix`, or printed) in its usual forms."""
    found: list[Identifier] = []
    for group in str(value).split("="):  # alphabetic, ideographic, phonetic representations
        parts = [p for p in re.split(r"[\^,\s]+", group) if re.search(r"[^\W\d_]", p)]
        if not parts:
            continue
        for part in parts:
            letters = re.sub(r"[^\w]", "", part)
            if len(letters) >= MIN_NAME_PART and part.lower() not in COMMON_WORDS:
                found.append(Identifier(_BOUNDARY_BEFORE + re.escape(part) + _BOUNDARY_AFTER, origin, part.lower()))
        if len(parts) >= 2 and not all(p.lower() in COMMON_WORDS for p in parts[:2]):
            last, first = parts[0], parts[1]
            for a, b in ((last, first), (first, last)):  # Last^First, First Last, LAST, FIRST
                pattern = re.escape(a) + r"\s*[\^,\s]\s*" + re.escape(b)
                found.append(Identifier(_BOUNDARY_BEFORE + pattern + _BOUNDARY_AFTER, origin, a.lower()))
    return found


def date_forms(value: str, origin: str) -> list[Identifier]:
    """A DICOM date YYYYMMDD as written and in printed forms (ISO, US, European, dotted)."""
    m = re.fullmatch(r"\s*(\d{4})(\d{2})(\d{2})\s*", str(value)[:8] if len(str(value)) >= 8 else str(value))
    if not m:
        return [i for i in [_word(str(value), origin)] if i]
    y, mo, d = m.groups()
    mo_, d_ = f"0?{int(mo)}", f"0?{int(d)}"
    patterns = [
        (f"{y}{mo}{d}", f"{y}{mo}{d}"),
        (rf"{y}[-/.]{mo_}[-/.]{d_}", y),  # 1923-04-05, 1923/04/05
        (rf"{mo_}[-/.]{d_}[-/.]{y}", y),  # 04/05/1923 (US)
        (rf"{d_}[-/.]{mo_}[-/.]{y}", y),  # 05.04.1923, 05/04/1923 (European)
    ]
    return [Identifier(_BOUNDARY_BEFORE + p + _BOUNDARY_AFTER, origin, probe) for p, probe in patterns]


def time_forms(value: str, origin: str) -> list[Identifier]:
    m = re.fullmatch(r"\s*(\d{2})(\d{2})(\d{2})?(\.\d+)?\s*", str(value))
    if not m:
        return []
    hh, mm, ss, frac = m.groups()
    forms = [f"{hh}{mm}{ss or ''}{re.escape(frac or '')}", f"{hh}:{mm}" + (f":{ss}" if ss else "")]
    if ss is None and len(forms[0]) < MIN_LENGTH:
        return []
    return [Identifier(_BOUNDARY_BEFORE + f + _BOUNDARY_AFTER, origin) for f in forms]


def free_text_forms(value: str, origin: str) -> list[Identifier]:
    """Free text: the whole value, its capitalised words (names in passing), dates and ID-like runs."""
    text = str(value)
    found = [i for i in [_word(text, origin)] if i]
    # names in passing: after a title ("Dr Okafor", "Prof. Lee Ann"), or in DICOM form (Doe^Jane)
    for m in re.finditer(_TITLE + r"((?:[A-Z][\w'-]+)(?:\s+[A-Z][\w'-]+)?)", text):
        found += name_forms(m.group(1).replace(" ", "^"), origin)
    for name in re.findall(r"[^\W\d_][\w'-]*\^[^\W\d_][\w'^-]*", text):
        found += name_forms(name, origin)
    for run in re.findall(r"(?<![A-Za-z0-9])[A-Za-z]*\d[\dA-Za-z\-/.]{3,}(?![A-Za-z0-9])", text):
        digits = len(re.findall(r"\d", run))
        if re.fullmatch(r"[\d.]+", run) and run.count(".") == 1:
            continue  # a decimal number (a resolution, a size), not an ID
        if digits >= 6 or (re.search(r"[A-Za-z]", run) and digits >= 4):
            found += _id_forms(run, origin)
    for y, mo, d in re.findall(r"(?<!\d)(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?!\d)", text):
        found += date_forms(f"{y}{mo}{d}", origin)
    for a, b, y in re.findall(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)", text):
        found.append(Identifier(_BOUNDARY_BEFORE + rf"0?{int(a)}[-/.]0?{int(b)}[-/.]{y}" + _BOUNDARY_AFTER, origin))
    return found


def forms_of(vr: str, value: Any, origin: str, *, free_text: bool = False) -> list[Identifier]:
    """Every searchable form of one attribute value of value representation `vr`."""
    values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    found: list[Identifier] = []
    for v in values:
        if v is None or isinstance(v, (bytes, bytearray)):
            continue
        text = str(v).strip()
        if not text:
            continue
        if vr in _NAME_VRS:
            found += name_forms(text, origin)
        elif vr in _DATE_VRS:
            found += date_forms(text, origin)
        elif vr in _DATETIME_VRS:
            found += date_forms(text[:8], origin) + [i for i in [_word(text, origin)] if i]
        elif vr in _TIME_VRS:
            found += time_forms(text, origin)
        elif vr in _TEXT_VRS:
            found += [i for i in [_word(text, origin)] if i]
            if vr != "UI" and re.search(r"(ID|IDs|Number|Numbers|Locator)( |$)", origin.split(" of ")[0] + " "):
                found += _id_forms(text, origin)
            if free_text or vr in _FREE_TEXT_VRS:
                found += free_text_forms(text, origin)
    return found


def _dicom_identifiers(ds: Any, where: str, seen: set[tuple[int, str, str]] | None = None) -> list[Identifier]:
    """Identifiers of one dataset; (tag, VR, value) triples in `seen` are skipped and added."""
    seen = set() if seen is None else seen
    found: list[Identifier] = []
    datasets = [ds]
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        datasets.append(meta)
    for dataset in datasets:
        for elem in dataset.iterall():  # nested sequences included
            if elem.VR == "SQ":
                continue
            private = elem.tag.is_private
            if not (private or _in_profile(int(elem.tag))):
                continue
            mark = (int(elem.tag), elem.VR, repr(elem.value))
            if mark in seen:
                continue
            seen.add(mark)
            keyword = elem.keyword or f"private tag ({elem.tag.group:04X},{elem.tag.element:04X})"
            vr = elem.VR if elem.VR in _NAME_VRS | _DATE_VRS | _DATETIME_VRS | _TIME_VRS | _TEXT_VRS else ""
            if private and vr == "" and elem.VR in ("UN", "OB") and isinstance(elem.value, bytes):
                text = elem.value.decode("latin-1").strip("\x00 ")
                if text.isprintable():
                    found += forms_of("LT", text, f"{keyword} of {where}", free_text=True)
                continue
            if vr:
                found += forms_of(vr, elem.value, f"{keyword} of {where}", free_text=private)
    return found


#: PNG/TIFF text keys written by converters, normalised (lower case, letters only) -> DICOM VR.
def _vr_for_key(key: str) -> str | None:
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    compact = re.sub(r"[^A-Za-z]", "", key)
    for candidate in (compact, compact[:1].upper() + compact[1:]):
        tag = tag_for_keyword(candidate)
        if tag is not None and _in_profile(tag):
            return dictionary_VR(tag)
    lowered = compact.lower()
    if lowered.endswith("name") or lowered in ("patient", "physician", "author", "artist"):
        return "PN"
    if "birth" in lowered or lowered.endswith("date") or lowered == "dob":
        return "DA"
    if lowered.endswith("id") or lowered in ("mrn", "accession"):
        return "LO"
    return None


def text_identifiers(text: str, origin: str) -> list[Identifier]:
    """Identifiers in free metadata text: `Key: value` / `Key=value` lines by their key, the rest as free text."""
    found: list[Identifier] = []
    for line in re.split(r"[\r\n;|]+", text):
        m = re.match(r"\s*([A-Za-z][A-Za-z ._']{1,40}?)\s*[:=]\s*(.+?)\s*$", line)
        vr = _vr_for_key(m.group(1)) if m else None
        if m and vr:
            found += forms_of(vr, m.group(2), f"{m.group(1).strip()} in {origin}", free_text=True)
            if vr == "DA":
                found += free_text_forms(m.group(2), f"{m.group(1).strip()} in {origin}")
        elif line.strip():
            found += free_text_forms(line, origin)
    return found


_TIFF_TEXT_TAGS = {269: "DocumentName", 270: "ImageDescription", 285: "PageName", 315: "Artist", 316: "HostComputer"}


def _raster_identifiers(path: Path, where: str) -> list[Identifier]:
    """Text chunks of PNGs and text tags of TIFFs (what converters leave behind)."""
    from PIL import Image

    found: list[Identifier] = []
    with Image.open(path) as im:
        texts: dict[str, Any] = {}
        if im.format == "PNG":
            texts = dict(getattr(im, "text", {}) or {})
        elif im.format == "TIFF":
            tags = getattr(im, "tag_v2", {})
            texts = {name: tags[t] for t, name in _TIFF_TEXT_TAGS.items() if t in tags}
        for key, value in texts.items():
            origin = f"{'PNG text chunk' if im.format == 'PNG' else 'TIFF tag'} {key} of {where}"
            vr = _vr_for_key(str(key))
            if vr:
                found += forms_of(vr, str(value), origin, free_text=True)
            found += text_identifiers(str(value), origin)
    return found


def path_identifiers(relpath: str, where: str) -> list[Identifier]:
    """What in a relative path may be a name, an ID or a date: two or more capitalised words of
    one folder or file name (`Kowalczyk_Agnieszka`, `DOE JANE`), runs of six or more digits or of
    letters and four or more digits (`12345678`, `MRN0042`), and dates. Single words and
    lower-case words (`Segmentation`, `images`) are taken for ordinary folder and file words."""
    found: list[Identifier] = []
    pure = PurePosixPath(relpath)
    origin = f"file or folder name of {where}"
    for component in [*pure.parent.parts, pure.stem.removesuffix(".nii")]:
        parts = re.split(r"[_\-\s.^,()\[\]]+", component)
        named = [
            p
            for p in parts
            if re.fullmatch(r"[^\W\d_]{2,}", p)
            and p[0].isupper()
            and p.lower() not in COMMON_WORDS
            and not is_controlled(p)  # `CT ABDOMEN` in an NBIA study folder is vocabulary, not a name
        ]
        if len(named) >= 2:
            found += name_forms("^".join(named), origin)
        for part in parts:
            digits = len(re.findall(r"\d", part))
            if (digits >= 6 or (digits >= 4 and re.search(r"[A-Za-z]", part))) and len(set(part)) > 1:
                found += _id_forms(part, origin)
        for y, mo, d in re.findall(r"(?<!\d)(\d{4})[-.](\d{2})[-.](\d{2})(?!\d)", component):
            found += date_forms(f"{y}{mo}{d}", origin)
        for a, b, y in re.findall(r"(?<!\d)(\d{1,2})[-.](\d{1,2})[-.](\d{4})(?!\d)", component):
            pattern = rf"0?{int(a)}[-/.]0?{int(b)}[-/.]{y}"
            found.append(Identifier(_BOUNDARY_BEFORE + pattern + _BOUNDARY_AFTER, origin, y))
    return found


def identifiers_of_files(
    paths: Iterable[Path], names: Iterable[str] | None = None, parsed: Mapping[Path, Any] | None = None
) -> list[Identifier]:
    """Identifiers across the files among `paths`: DICOM headers, PNG/TIFF text (others ignored).

    `names` are how the files are shown in messages (pseudonymised when paths are not public).
    `parsed` holds DICOM datasets a reader has already parsed (a series' headers): those files are
    not read again. A value repeated across files (a series' patient name, dates, study UIDs) is
    collected once, under the first file that holds it.
    """
    import pydicom

    from .readers import sniff_format

    paths = list(paths)
    shown = list(names) if names is not None else [p.name for p in paths]
    parsed = parsed or {}
    found: list[Identifier] = []
    seen: set[tuple[int, str, str]] = set()
    for path, where in zip(paths, shown, strict=True):
        if path in parsed:
            found += _dicom_identifiers(parsed[path], where, seen)
            continue
        try:
            with open_regular(path) as f:  # a FIFO named .dcm must not block the gate
                head = f.read(512)
            kind = sniff_format(head, path.suffix)
            if kind == "dicom":
                ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
                found += _dicom_identifiers(ds, where, seen)
            elif head[:8] == b"\x89PNG\r\n\x1a\n" or head[:4] in (b"II*\x00", b"MM\x00*"):
                found += _raster_identifiers(path, where)
        except Exception:  # unreadable files are reported by the reader; nothing to collect here
            continue
    return found


def metadata_identifiers(metadata: dict[str, str], where: str) -> list[Identifier]:
    """Identifiers among an item's labels.csv / metadata-table values.

    A column identifying by its name (patient, name, ID, birth date, MRN, ...) is searched like the
    DICOM attribute it stands for; a controlled column (anatomy, view, ...) holding a value outside
    the vocabulary is searched as free text, so it can reach no output in any form.
    """

    found: list[Identifier] = []
    for column, value in sorted(metadata.items()):
        origin = f"metadata column {column} of {where}"
        vr = _vr_for_key(column)
        if vr or IDENTIFYING_COLUMN.search(column.lower()) or re.search(r"(^|_)id$", column.lower()):
            found += forms_of(vr or "LO", value, origin, free_text=True)
            if vr != "PN":
                found += name_forms(value, origin) if re.search(r"[\^,]", value) else []
        elif column.lower() in CONTROLLED_COLUMNS and not is_controlled(value):
            found += free_text_forms(value, origin) + name_forms(value, origin)
    return found


def item_identifiers(item: Any, parsed: Mapping[Path, Any] | None = None) -> list[Identifier]:
    """Everything of `item` that must not be written: its files' identifiers, metadata and, when
    its paths are not public, their parts. A public source's own keys (in its paths) are exempt.
    Sources the toolkit generated (built-in samples) hold no patient: nothing to collect."""
    if getattr(item, "synthetic", False):
        return []
    names = [item.shown_name(i) for i in range(len(item.files))]
    found = identifiers_of_files([item.path(i) for i in range(len(item.files))], names, parsed)
    found += metadata_identifiers(item.metadata, names[0] if names else item.key)
    if item.shown:
        for rel, name in zip(item.files, names, strict=True):
            found += path_identifiers(rel, name)
        if item.local_key:
            found += path_identifiers(item.local_key, item.key)
        found += path_identifiers(f"{Path(item.root).resolve().name}/x", item.key)  # the folder's own name
        return found
    return without_exempt(found, [item.source_id, *item.files])


def _compiled(identifier: Identifier) -> re.Pattern[str]:
    return _compile(identifier.pattern)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def first_hit(texts: Iterable[str], identifiers: Iterable[Identifier]) -> Identifier | None:
    """The first identifier that occurs in `texts`, as a whole word, or None.

    Identifiers with a probe word are tried only when the text holds that word; the rest are
    searched in batches (one alternation per batch), so a whole output folder is scanned fast.
    """
    haystack = "\n".join(texts)
    words = set(re.findall(r"[a-z0-9]+", haystack.lower()))
    probed: list[Identifier] = []
    rest: list[Identifier] = []  # one pass: a membership test against `probed` made this quadratic
    for identifier in {i.pattern: i for i in identifiers}.values():
        (probed if identifier.probe and re.fullmatch(r"[a-z0-9]+", identifier.probe) else rest).append(identifier)
    for identifier in probed:
        if identifier.probe in words and _compiled(identifier).search(haystack):
            return identifier
    for start in range(0, len(rest), _BATCH):
        batch = rest[start : start + _BATCH]
        if _compile("|".join(f"(?:{i.pattern})" for i in batch)).search(haystack):
            return next(i for i in batch if _compiled(i).search(haystack))
    return None


_BATCH = 200


def output_texts(folder: Path) -> Iterator[str]:
    """Every text of an output folder: file names, every string of every parquet column (nested
    values included, image bytes excepted) and every other file decoded as UTF-8 text."""
    import pyarrow.parquet as pq

    for path in sorted(folder.rglob("*")):
        yield path.relative_to(folder).as_posix()
        if not path.is_file():
            continue
        if path.suffix == ".parquet":  # a row group at a time (pq.read_table would also import pandas)
            for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
                for row in batch.to_pylist():
                    yield from strings_in(row)
        else:
            data = path.read_bytes()
            if data[:8] == b"\x89PNG\r\n\x1a\n":
                yield from _png_texts(data)
            else:
                yield data.decode("utf-8", errors="replace")


def _png_texts(data: bytes) -> list[str]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return [f"{k}: {v}" for k, v in (getattr(im, "text", {}) or {}).items()]


def check_output(folder: Path, identifiers: Iterable[Identifier], authored: Iterable[str] = ()) -> None:
    """Raise PrivacyError (attribute named, never the value) if any identifier occurs anywhere in `folder`.

    `authored`: texts the toolkit writes whatever the inputs (recipe descriptions, task texts); an
    identifier found in them is no evidence of a leak. Rows were gated item by item already."""
    hit = first_hit(output_texts(folder), without_exempt(identifiers, authored))
    if hit is not None:
        raise PrivacyError(
            f"the {hit.origin} occurs in the build's output (card, manifest or rows); the build was stopped"
        )


def without_exempt(identifiers: Iterable[Identifier], exempt: Iterable[str]) -> list[Identifier]:
    """Drop identifiers that occur in `exempt` texts: a public source's own keys (e.g. TCIA UIDs as folder names)."""
    exempt_text = "\n".join(exempt)
    words = set(re.findall(r"[a-z0-9]+", exempt_text.lower()))
    unique: dict[str, Identifier] = {}  # a series repeats its values per file: each pattern once, first origin
    for identifier in identifiers:
        unique.setdefault(identifier.pattern, identifier)

    def exempted(identifier: Identifier) -> bool:
        if identifier.probe and re.fullmatch(r"[a-z0-9]+", identifier.probe) and identifier.probe not in words:
            return False  # the texts lack the word the pattern needs: no regex to run
        return bool(_compiled(identifier).search(exempt_text))

    return [i for i in unique.values() if not exempted(i)]


def check_texts(texts: Iterable[str], identifiers: Iterable[Identifier], exempt: Iterable[str], where: str) -> None:
    """Raise PrivacyError naming the attribute (never the value) if any identifier occurs in `texts`."""
    hit = first_hit(texts, without_exempt(identifiers, exempt))
    if hit is not None:
        raise PrivacyError(f"{where}: the {hit.origin} would be written to the output; the build was stopped")


def example_texts(example: Any) -> list[str]:
    """Every text an Example contributes to its row (images are pixels, checked by `ocr.py`)."""
    question = example.question
    return [
        question.text,
        *question.choices,
        *strings_in(example.label),
        *strings_in(example.details),
        *strings_in(example.transforms),
        *strings_in([i.to_json() for i in example.inputs]),
        example.derivation,
        example.key,
        example.task,
        example.modality,
        example.anatomy,
        example.source,
        example.license,
    ]
