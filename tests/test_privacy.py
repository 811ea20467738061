"""The privacy gate: identifiers planted in every confidentiality-profile tag never reach the output."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydicom.datadict import dictionary_VR, keyword_dict

from medblink_build.privacy import confidentiality_tags
from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.samples.phantoms import chest_pa
from tests.conftest import run_cli


def _planted_values() -> dict[str, str]:
    from pydicom.datadict import keyword_for_tag

    values = {}
    keywords = sorted(keyword_for_tag(t) for t in confidentiality_tags() if t >> 16 not in (0, 2))
    for i, keyword in enumerate(keywords):
        if keyword not in keyword_dict or keyword == "MediaStorageSOPInstanceUID":
            continue
        vr = dictionary_VR(keyword_dict[keyword])
        if vr not in ("PN", "DA", "TM", "DT", "UI", "LO", "SH", "LT", "ST", "UT"):
            continue
        if vr == "SQ":
            continue
        values[keyword] = {
            "PN": f"Planted{i:03d}^Given{i:03d}",
            "DA": f"19{i % 90 + 10:02d}0{i % 9 + 1}1{i % 9}",
            "TM": f"1{i % 9}2{i % 9}33.{i:03d}",
            "DT": f"19{i % 90 + 10:02d}0101101010.{i:03d}",
            "UI": f"1.2.826.0.1.3680043.10.9999.{i + 1000}",
        }.get(vr, f"PL{i:03d}-{keyword[:8].upper()}")
    return values


@pytest.fixture
def identified_source(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "identified"
    planted = _planted_values()
    for n in range(3):
        values = dict(planted)
        if n:  # distinct UIDs per file, as in a real archive
            values = {k: (f"{v}.{n}" if dictionary_VR(keyword_dict[k]) == "UI" else v) for k, v in values.items()}
        write_radiograph(root / f"chest_{n}.dcm", chest_pa(n, 128), uid_seed=f"p{n}", extra=values)
    return root, planted


def _all_output_text(out: Path) -> str:
    parts = []
    for path in sorted(out.rglob("*")):
        parts.append(path.relative_to(out).as_posix())
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                for key, value in row.items():
                    if key == "images":
                        parts.extend(img["path"] for img in value)
                    else:
                        parts.append(json.dumps(value, ensure_ascii=False))
        elif path.is_file():
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_no_identifier_reaches_any_output_byte(identified_source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, planted = identified_source
    out = tmp_path / "out"
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", out)
    assert code == 0, output
    text = _all_output_text(out)
    assert "imaging_orientation_cxr" in text  # the scan did read the rows
    leaked = {k: v for k, v in planted.items() if any(part in text for part in v.split("^"))}
    assert leaked == {}


def test_a_leaking_item_is_skipped_and_the_build_goes_on(
    identified_source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, planted = identified_source
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "leaky.py").write_text(
        textwrap.dedent("""
        import pydicom
        from medblink_build.recipes.orientation import Orientation

        class Leaky(Orientation):
            name = "leaky"

            def build(self, item, ctx):
                example = super().build(item, ctx)
                if item.files[0] == "chest_1.dcm":
                    example.label["who"] = str(pydicom.dcmread(item.path(0)).PatientName)
                return example
    """)
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "leaky", "--recipes-dir", recipes, "--source", root, "--out", out)
    assert code == 0, output
    assert "privacy 1" in output
    manifest = json.loads((out / "manifest.json").read_text())
    (skip,) = manifest["skipped"]["items"]
    assert skip["reason"] == "privacy" and "PatientName" in skip["detail"]
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 2  # the clean neighbours
    text = _all_output_text(out)
    assert not any(part in text for part in planted["PatientName"].split("^"))

    strict = tmp_path / "strict"
    code, output = run_cli("recipe", "leaky", "--recipes-dir", recipes, "--source", root, "--out", strict, "--strict")
    assert code != 0
    assert "PatientName" in output and "build was stopped" in output
    assert planted["PatientName"] not in output and "Planted" not in output
    assert not strict.exists()


def test_burned_in_annotation_is_skipped_and_recorded(tmp_path: Path) -> None:
    root = tmp_path / "burned"
    write_radiograph(root / "a.dcm", chest_pa(1, 128), uid_seed="b1", extra={"BurnedInAnnotation": "YES"})
    write_radiograph(root / "b.dcm", chest_pa(2, 128), uid_seed="b2", extra={"BurnedInAnnotation": "NO"})
    code, output = run_cli("recipe", "orientation", "--source", root, "--out", tmp_path / "out")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (skip,) = manifest["skipped"]["items"]
    assert skip["reason"] == "burned_in_annotation"
    assert "a.dcm" not in skip["key"] and skip["detail"].endswith(": BurnedInAnnotation = YES")  # pseudonymised
    assert manifest["configs"]["imaging_orientation_cxr"]["rows"] == 1


def test_name_parts_match_whole_words_in_every_printed_form() -> None:
    from medblink_build.privacy import first_hit, forms_of

    ids = forms_of("PN", "LI^WU", "PatientName of a.dcm") + forms_of("DA", "19230405", "PatientBirthDate of a.dcm")
    for leak in ["by Li", "WU", "Wu Li", "LI, WU", "Li^Wu", "born 1923-04-05", "04/05/1923", "05.04.1923", "5.4.1923"]:
        hit = first_hit([f"series {leak} here"], ids)
        assert hit is not None, leak
        assert hit.attribute in ("PatientName", "PatientBirthDate") and "LI" not in hit.origin
    for clean in ["Which marker is closer?", "sha256 ab19230405cd", "lime", "wulf", "0.19230405", "x1923-04-05"]:
        assert first_hit([clean], ids) is None, clean


def test_ids_match_with_and_without_separators() -> None:
    from medblink_build.privacy import first_hit, forms_of

    ids = forms_of("LO", "123-45-6789", "PatientID of a.dcm")
    assert first_hit(["id 123456789"], ids) is not None
    assert first_hit(["id 123 45 6789"], ids) is not None
    assert first_hit(["id 1234567890"], ids) is None


def test_the_final_scan_is_linear_in_the_identifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole release collects tens of thousands of identifiers (a CT series alone has 300 files):
    sorting them into probed and batched ones must not compare them pairwise (it did: a list
    membership test, quadratic, minutes at release size). Counted, not timed."""
    from medblink_build import privacy
    from medblink_build.privacy import Identifier, first_hit, forms_of

    ids = [i for n in range(1500) for i in forms_of("LO", f"ACC{n:07d}", f"AccessionNumber of f{n}.dcm")]
    ids += [i for n in range(1500) for i in forms_of("PN", f"Surname{n:04d}^Given", f"PatientName of f{n}.dcm")]
    assert any(i.probe for i in ids) and any(not i.probe for i in ids)
    compared = 0
    original = Identifier.__eq__

    def counting(self: Identifier, other: object) -> bool:
        nonlocal compared
        compared += 1
        return original(self, other)

    monkeypatch.setattr(privacy.Identifier, "__eq__", counting)
    assert first_hit(["nothing to see"], ids) is None
    hit = first_hit(["written by surname1499 given"], ids)
    assert hit is not None and "f1499.dcm" in hit.origin
    assert compared < len(ids)


def test_a_common_word_in_a_name_is_not_identifying_on_its_own() -> None:
    from medblink_build.privacy import first_hit, forms_of

    ids = forms_of("PN", "CHEST^Anna", "PatientName of a.dcm")
    assert first_hit(["Which way is this chest X-ray rotated?"], ids) is None
    assert first_hit(["Anna"], ids) is not None and first_hit(["Chest Anna"], ids) is not None


def test_the_profile_is_the_standard_table() -> None:
    from pydicom.datadict import tag_for_keyword

    tags = confidentiality_tags()
    assert len(tags) > 500  # the whole PS3.15 table, not a hand-typed subset
    for keyword in ("PatientName", "OtherPatientNames", "SeriesDescription", "ContrastBolusStartTime"):
        assert tag_for_keyword(keyword) in tags
    assert tag_for_keyword("PixelSpacing") not in tags


def test_paths_are_pseudonymised_and_explain_maps_them_back_with_the_key(tmp_path: Path) -> None:
    import os
    import secrets

    from medblink_build.pseudonym import KEY_ENV

    root = tmp_path / "Nowak_Jan 55120931"
    write_radiograph(root / "Nowak_Jan" / "55120931.dcm", chest_pa(1, 96), uid_seed="e1")
    out, again = tmp_path / "out", tmp_path / "again"
    for folder in (out, again):
        code, output = run_cli("recipe", "orientation", "--source", root, "--out", folder, "--quiet")
        assert code == 0, output
    assert (out / "manifest.json").read_bytes() == (again / "manifest.json").read_bytes()  # deterministic
    text = _all_output_text(out)
    assert "Nowak" not in text and "55120931" not in text  # source id, key, inputs, card heading
    (row_id,) = [
        e[0] for e in json.loads((out / "manifest.json").read_text())["configs"]["imaging_orientation_cxr"]["examples"]
    ]

    code, output = run_cli("explain", out, row_id, "--source", root, "--key", os.environ[KEY_ENV])
    assert code == 0, output
    assert "-> Nowak_Jan/55120931.dcm" in output

    other = tmp_path / "other.key"
    other.write_text(secrets.token_hex(32))
    code, output = run_cli("explain", out, row_id, "--source", root, "--key", other)
    assert code != 0 and "another pseudonym key" in output


def test_only_sources_that_declare_public_ids_keep_their_names() -> None:
    from medblink_build.manifests import get_manifest, parse_manifest

    assert get_manifest("totalsegmentator").paths_public and get_manifest("nih-chestxray14").paths_public
    base = 'id = "x"\nname = "X"\nlicense = "CC-BY-4.0"\naccess = "open"\nhow_to_obtain = "-"\nmodality = "CT"\n'
    base += 'anatomy = "abdomen"\nhomepage = "-"\ncitation = "-"\n'
    assert not parse_manifest(base, "x.toml").paths_public  # a local source.toml: pseudonymised
    assert parse_manifest("public_paths = true\n" + base, "x.toml").paths_public


def test_free_text_names_after_a_title_are_searched_and_ordinary_words_are_not() -> None:
    from medblink_build.privacy import first_hit, forms_of

    ids = forms_of("LO", "Dr Thistlewood Lung Window", "SeriesDescription of a.dcm")
    assert first_hit(['{"name": "ct_window"}', "lung window, level -600"], ids) is None
    hit = first_hit(["reported by thistlewood"], ids)
    assert hit is not None and hit.attribute == "SeriesDescription"


def test_an_identifier_in_build_level_text_stops_the_build(tmp_path: Path) -> None:
    root = tmp_path / "src"
    write_radiograph(root / "a.dcm", chest_pa(1, 96), uid_seed="c1", extra={"PatientName": "Wojciechowska^Zofia"})
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "carded.py").write_text(
        textwrap.dedent("""
        from medblink_build.recipes.orientation import Orientation

        class Carded(Orientation):
            name = "carded"
            description = "Orientation, as Dr Wojciechowska asked."  # reaches the card, not the rows
    """)
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "carded", "--recipes-dir", recipes, "--source", root, "--out", out)
    assert code != 0
    assert "PatientName" in output and "build was stopped" in output and "Wojciechowska" not in output
    assert not out.exists()


def test_the_pseudonym_key_is_created_private_and_gives_stable_names(tmp_path: Path) -> None:
    import stat

    from medblink_build.errors import MedblinkError
    from medblink_build.pseudonym import file_pseudonym, load_key

    path = tmp_path / "cfg" / "pseudonym.key"
    key = load_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_key(path) == key
    name = file_pseudonym(key, "Doe_Jane/0001.dcm")
    assert name == file_pseudonym(key, "Doe_Jane/0001.dcm") and name.endswith(".dcm") and "Doe" not in name
    assert name != file_pseudonym(load_key(tmp_path / "other.key"), "Doe_Jane/0001.dcm")
    (tmp_path / "bad.key").write_text("not hex")
    with pytest.raises(MedblinkError, match="not hex"):
        load_key(tmp_path / "bad.key")


def test_png_text_chunks_tiff_descriptions_and_nested_private_values_are_collected(tmp_path: Path) -> None:
    import pydicom
    from PIL import Image, PngImagePlugin
    from pydicom.dataset import Dataset

    from medblink_build.privacy import first_hit, identifiers_of_files

    info = PngImagePlugin.PngInfo()
    info.add_text("Patient Name", "Roe^Richardine")
    info.add_itxt("Comment", "MRN: PX-99887766 seen by Dr Okafor", lang="en")
    Image.new("L", (8, 8)).save(tmp_path / "a.png", pnginfo=info)
    Image.new("L", (8, 8)).save(tmp_path / "b.tif", tiffinfo={270: "PatientBirthDate=19230405"})
    dcm = write_radiograph(tmp_path / "c.dcm", chest_pa(1, 64), uid_seed="n1")
    ds = pydicom.dcmread(dcm)
    ds.private_block(0x0011, "ACME 1.0", create=True).add_new(0x01, "LO", "Quillfeather Ward")
    inner = Dataset()
    inner.PatientName = "Zebedee^Ottoline"
    ds.OtherPatientIDsSequence = [inner]
    ds.save_as(dcm)
    ids = identifiers_of_files([tmp_path / "a.png", tmp_path / "b.tif", dcm])
    for leak, where in [
        ("richardine", "PNG text chunk"),
        ("99887766", "PNG text chunk"),
        ("okafor", "PNG text chunk"),
        ("born 05.04.1923", "TIFF tag"),
        ("Quillfeather Ward", "private tag (0011,1001)"),
        ("Ottoline", "PatientName"),
    ]:
        hit = first_hit([leak], ids)
        assert hit is not None and where in hit.origin, (leak, hit)
