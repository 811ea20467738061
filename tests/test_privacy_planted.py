"""Identifiers planted where real exports carry them never reach any output byte, and clean items
of the same source are still built.

Planted: DICOM header attributes of the PS3.15 profile (OtherPatientNames, a private tag, a nested
sequence, free text naming a doctor), PNG tEXt/iTXt chunks, a TIFF ImageDescription, labels.csv
columns (one written into `anatomy`), folder and file names, and text burned into the pixels of a
real radiograph and a real ultrasound frame (pydicom-data, see tests/data/privacy/README.md).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin
from pydicom.dataset import Dataset

from medblink_build.readers import read_image
from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.samples.phantoms import chest_pa
from tests.conftest import run_cli
from tests.test_privacy import _all_output_text

DATA = Path(__file__).parent / "data" / "privacy"

#: Every planted value, by where it was planted; each word of each must be absent from the output.
PLANTED = {
    "folder name": "Kowalczyk_Agnieszka",
    "folder ID": "MRN77441203",
    "file name": "Brandauer Klaus 1923-04-05",
    "PatientName": "Wojciechowska^Zofia",
    "PatientID": "PID-4417-2290",
    "PatientBirthDate": "19230405",
    "InstitutionName": "Sankt Gallus Klinik",
    "OtherPatientNames": "Featherstonehaugh^Quentin",
    "private tag": "Okonkwo Adaeze",
    "nested sequence": "ALT55123344",
    "SeriesDescription": "Dr Thistlewood chest PA",
    "PNG tEXt": "Roe^Richardine",
    "PNG iTXt": "PIDX99887766",
    "TIFF ImageDescription": "Ngozika^Weiwei",
    "labels.csv patient_name": "Quillfeather^Petronella",
    "labels.csv anatomy": "Xanthopoulos^Charalambos",
    "burned-in name": "Doe^Jane",
    "burned-in ID": "48213377",
    "burned-in institution": "Marygrove Hospital",
}
#: Words of the planted values that are ordinary vocabulary (they may occur, e.g. "chest", "Dr").
ORDINARY = {"chest", "pa", "dr", "klinik", "hospital", "sankt"}


def _planted_words() -> set[str]:
    words: set[str] = set()
    for value in PLANTED.values():
        words.update(w for w in re.split(r"[\s^_,]+", value) if w and w.lower() not in ORDINARY)
    words.add("04/05/1923")
    words.add("1923-04-05")
    return words


def _header(pixels: np.ndarray, path: Path, uid: str, **extra: str) -> Path:
    """A chest radiograph carrying the planted header identifiers, a private tag and a nested sequence."""
    values = {
        "PatientName": PLANTED["PatientName"],
        "PatientID": PLANTED["PatientID"],
        "PatientBirthDate": PLANTED["PatientBirthDate"],
        "InstitutionName": PLANTED["InstitutionName"],
        "OtherPatientNames": PLANTED["OtherPatientNames"],
        "SeriesDescription": PLANTED["SeriesDescription"],
        **extra,
    }
    write_radiograph(path, pixels, uid_seed=uid, extra=values)
    ds = pydicom.dcmread(path)
    block = ds.private_block(0x0009, "ACME PRIVATE 1.0", create=True)
    block.add_new(0x01, "LO", PLANTED["private tag"])
    nested = Dataset()
    nested.PatientID = PLANTED["nested sequence"]
    nested.IssuerOfPatientID = "Hospital Zenobia"
    ds.OtherPatientIDsSequence = [nested]
    ds.save_as(path)
    return path


def _chest_u8(variant: int) -> np.ndarray:
    return (chest_pa(variant, 128) >> 4).astype(np.uint8)


def _burn(display: np.ndarray, size: int, at: tuple[int, int]) -> np.ndarray:
    """Text burned into display pixels the way modality overlays are: bright, in a plain font."""
    image = Image.fromarray(display)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size)
    white = 255 if image.mode == "L" else (255, 255, 255)
    x, y = at
    lines = [f"{PLANTED['burned-in name']} ID {PLANTED['burned-in ID']}", "DOB 05.04.1923", "MARYGROVE HOSPITAL"]
    for n, line in enumerate(lines):
        draw.text((x, y + round(n * size * 1.4)), line, fill=white, font=font)
    return np.asarray(image)


@pytest.fixture
def planted_source(tmp_path: Path) -> Path:
    """A local folder named after its patient, with every kind of planted identifier."""
    root = tmp_path / f"{PLANTED['folder name']} {PLANTED['folder ID']}"
    patient = root / PLANTED["folder name"] / PLANTED["folder ID"]
    _header(_chest_u8(1), patient / f"{PLANTED['file name']}.dcm", "h1")
    _header(_chest_u8(2), patient / "chest_2.dcm", "h2")
    # a real-looking false positive: a name part that is a common word must not block anything
    write_radiograph(root / "common" / "c.dcm", chest_pa(3, 128), uid_seed="h3", extra={"PatientName": "CHEST^Maria"})
    png = PngImagePlugin.PngInfo()
    png.add_text("Patient Name", PLANTED["PNG tEXt"])
    png.add_itxt("Comment", f"PatientID={PLANTED['PNG iTXt']}", lang="en")
    Image.fromarray(_chest_u8(4)).save(root / "png_chest.png", pnginfo=png)
    Image.fromarray(_chest_u8(5)).save(
        root / "tiff_chest.tif", tiffinfo={270: f"PatientName: {PLANTED['TIFF ImageDescription']}"}
    )
    Image.fromarray(_chest_u8(6)).save(root / "labelled.png")
    (root / "labels.csv").write_text(
        "path,anatomy,patient_name\n"
        f"png_chest.png,chest,{PLANTED['labels.csv patient_name']}\n"
        "tiff_chest.tif,chest,\n"
        f"labelled.png,{PLANTED['labels.csv anatomy']},{PLANTED['labels.csv patient_name']}\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def burned_source(tmp_path: Path) -> Path:
    """A real CR radiograph and a real ultrasound frame, each clean and with burned-in text."""
    root = tmp_path / "burned"
    root.mkdir()
    rg_path = DATA / "RG3_J2KI.dcm"
    rg = read_image(rg_path, rg_path.read_bytes()).pixels  # real radiograph, display pixels
    identity = {"PatientName": "Doe^Jane", "PatientID": PLANTED["burned-in ID"], "InstitutionName": "Marygrove"}
    for name, pixels in (("rg_clean.dcm", rg), ("rg_burned.dcm", _burn(rg, 40, (470, 900)))):
        write_radiograph(
            root / name, np.ascontiguousarray(pixels), bits_stored=8, uid_seed=name, body_part=None, extra=identity
        )
    us_path = DATA / "US1_J2KI.dcm"
    # the frame below the vendor's header band (which itself carries an institution name)
    frame = np.ascontiguousarray(read_image(us_path, us_path.read_bytes()).pixels[110:340])
    for name, pixels in (("us_clean.dcm", frame), ("us_burned.dcm", _burn(frame, 16, (330, 20)))):
        ds = pydicom.dcmread(us_path)
        ds.set_pixel_data(np.ascontiguousarray(pixels), "RGB", 8)
        for keyword, value in identity.items():
            setattr(ds, keyword, value)
        for keyword in ("SeriesDescription", "StudyDescription"):  # header copies are tested on the other source
            ds.pop(keyword, None)
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[name])
        ds.save_as(root / name)
    return root


LEAKY = textwrap.dedent('''
    """A careless recipe: it copies header text, file names and metadata into the row."""
    import pydicom
    from medblink_build.model import Example
    from medblink_build.questions import Question
    from medblink_build.recipe import Recipe, TaskInfo
    from medblink_build.encode import png_bytes

    class Careless(Recipe):
        name = "careless"
        version = "1.0.0"
        tasks = (TaskInfo("leaky_task", "X-ray", "chest", "test", "Is there an image?"),)

        def build(self, item, ctx):
            image = ctx.read_image()
            label = {"file": item.files[0], "folder": item.files[0].rsplit("/", 1)[0]}
            try:
                ds = pydicom.dcmread(item.path(0), stop_before_pixels=True)
                label["series"] = str(ds.get("SeriesDescription", ""))
                label["others"] = str(ds.get("OtherPatientNames", ""))
            except Exception:
                pass
            return Example(
                task="leaky_task",
                key=item.key,
                images=[png_bytes(image.pixels)],
                question=Question("Is there an image?", ("yes", "no"), 0),
                label=label,
                inputs=list(ctx.inputs),
                transforms=[],
                derivation=f"read from {item.files[0]}",
                modality="X-ray",
                anatomy=item.metadata.get("anatomy", "chest"),
            )
''')


def _leaked(text: str) -> list[str]:
    return [w for w in _planted_words() if re.search(rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])", text, re.I)]


def test_planted_identifiers_reach_no_output_byte_and_clean_items_build(
    planted_source: Path, burned_source: Path, tmp_path: Path
) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "careless_recipe.py").write_text(LEAKY)

    honest = tmp_path / "honest"
    code, output = run_cli("recipe", "orientation", "--source", planted_source, "--out", honest)
    assert code == 0, output
    manifest = json.loads((honest / "manifest.json").read_text())
    # the two header-planted films, the common-word patient, the PNG and the TIFF are built
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 5, manifest["skipped"]

    careless = tmp_path / "careless"
    code, output = run_cli(
        "recipe", "careless", "--recipes-dir", recipes, "--source", planted_source, "--source", burned_source,
        "--out", careless,
    )  # fmt: skip
    assert code == 0, output
    manifest = json.loads((careless / "manifest.json").read_text())
    reasons = {s["key"]: (s["reason"], s["detail"]) for s in manifest["skipped"]["items"]}
    by_reason: dict[str, int] = {}
    for reason, _ in reasons.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    # header text copied by the recipe: privacy; the name in `anatomy`: not vocabulary; pixels: OCR
    assert by_reason.get("burned_in_text") == 2, reasons
    assert by_reason.get("not_in_vocabulary") == 1, reasons
    assert by_reason.get("privacy", 0) >= 2, reasons
    assert "privacy" in output and "burned_in_text" in output  # the summary counts them
    rows = manifest["configs"]["leaky_task"]["rows"]
    assert rows == 5, reasons  # the clean real radiograph and ultrasound frame among them
    for _reason, detail in reasons.values():
        assert not _leaked(detail)

    for out in (honest, careless):
        text = _all_output_text(out)  # file names, decoded parquet strings, every file
        assert "imaging_orientation" in text or "leaky_task" in text  # the scan did read the rows
        assert _leaked(text) == [], out


def test_the_clean_real_images_are_the_ones_built(burned_source: Path, tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "careless_recipe.py").write_text(LEAKY)
    out = tmp_path / "out"
    code, output = run_cli("recipe", "careless", "--recipes-dir", recipes, "--source", burned_source, "--out", out)
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"]["leaky_task"]["rows"] == 2
    skipped = manifest["skipped"]["items"]
    assert sorted(s["reason"] for s in skipped) == ["burned_in_text", "burned_in_text"]
    from tests.conftest import shown

    built = {i["path"] for i in manifest["inputs"]}
    assert built == {shown("rg_clean.dcm"), shown("us_clean.dcm")}


def test_generic_patterns_catch_text_with_no_header_to_match(burned_source: Path) -> None:
    from medblink_build.encode import png_bytes
    from medblink_build.ocr import burned_in_hit

    burned = read_image(burned_source / "us_burned.dcm", (burned_source / "us_burned.dcm").read_bytes()).pixels
    clean = read_image(burned_source / "us_clean.dcm", (burned_source / "us_clean.dcm").read_bytes()).pixels
    hit = burned_in_hit([png_bytes(burned)], [])
    assert hit is not None and "looks like" in hit and "48213377" not in hit
    assert burned_in_hit([png_bytes(clean)], []) is None


def test_without_tesseract_an_image_that_needs_reading_stops_the_build(
    burned_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytesseract

    from medblink_build import ocr

    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "careless_recipe.py").write_text(LEAKY)
    ocr._tesseract.cache_clear()
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-tesseract"))
    try:
        code, output = run_cli(
            "recipe", "careless", "--recipes-dir", recipes, "--source", burned_source, "--out", tmp_path / "out",
            "--executor", "serial",
        )  # fmt: skip
    finally:
        ocr._tesseract.cache_clear()
    assert code != 0
    assert "tesseract is not installed" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_the_final_scan_reuses_the_identifiers_each_item_gate_collected(
    planted_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan of the finished folder searches the identifiers the workers' gates collected,
    carried back with each result, instead of parsing every input again (a CT series' 300
    headers, once more per item); the build is the same."""
    from medblink_build.build import pipeline

    calls: list[str] = []
    real = pipeline.item_identifiers
    monkeypatch.setattr(pipeline, "item_identifiers", lambda item: calls.append(item.key) or real(item))
    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", planted_source, "--out", out, "--no-resume")
    assert code == 0, output
    assert calls == []  # every item came back with its identifiers
    assert json.loads((out / "manifest.json").read_text())["configs"]["imaging_orientation_cxr"]["rows"] == 5
    assert _leaked(_all_output_text(out)) == []
