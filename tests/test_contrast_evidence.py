"""Contrast evidence on a real Enhanced CT (pydicom-data's eCT_Supplemental.dcm) and coded attributes.

The real file is a derived perfusion map stating "Iohexol, intravenous, administered YES": as it
is, it must be skipped as `derived_image`; copies with an acquired ImageType/FrameType must be
labelled from the coded evidence, and provenance must never carry header text.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pydicom
import pytest

from medblink_build.errors import SkipItem
from medblink_build.model import SourceItem
from medblink_build.readers import read_volume
from medblink_build.recipe import ItemContext
from medblink_build.recipes.enhancement import Enhancement
from medblink_build.tasks.contrast_evidence import evidence_from_tags

DATA = Path(__file__).parent / "data" / "contrast"
ECT = DATA / "eCT_Supplemental.dcm"


def _build(folder: Path, name: str):  # type: ignore[no-untyped-def]
    item = SourceItem(key=f"test/{name}", source_id="test", root=folder, files=(name,))
    return Enhancement().build(item, ItemContext(item, 0, {}))


def _acquired(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The real file with its ImageType and FrameType made ORIGINAL (an acquired image)."""
    ds = copy.deepcopy(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    return ds


def _write(ds: pydicom.Dataset, folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name, enforce_file_format=True)
    return name


def test_reader_reads_the_coded_agent_and_the_functional_group_usage() -> None:
    meta = read_volume([ECT]).meta
    (agent,) = meta["ContrastBolusAgentSequence"]
    assert agent["code_meaning"] == "Iohexol" and agent["routes"] == ["Intravenous route"]
    assert agent["ingredients"] == ["Iodine"]
    (statement,) = meta["ContrastBolusUsage"]["statements"]
    assert statement == {"agent_number": "1", "administered": "YES", "detected": "YES", "phase": "DYNAMIC", "frames": 2}
    assert meta["FrameTypeValue1"] == ["DERIVED"]


def test_real_enhanced_ct_perfusion_map_is_skipped_as_derived() -> None:
    with pytest.raises(SkipItem) as info:
        _build(DATA, ECT.name)
    assert info.value.reason == "derived_image"
    assert "DERIVED" in info.value.detail


def test_enhanced_ct_stating_iohexol_administered_is_contrast(tmp_path: Path) -> None:
    ds = _acquired(pydicom.dcmread(ECT))
    ds.SeriesDescription = "ARTERIAL Dr LIWU phase"  # header free text: evidence, never output
    example = _build(tmp_path, _write(ds, tmp_path, "ect.dcm"))
    assert example.label["contrast"] is True and example.label["phase"] == "arterial"
    evidence = example.label["evidence"]
    assert 'ContrastBolusAgentSequence code meaning is the known agent "iohexol"' in evidence
    assert "ContrastBolusUsageSequence states ContrastBolusAgentAdministered YES (2 of 2 frame(s))" in evidence
    assert 'ContrastBolusAdministrationRouteSequence code meaning names the route "intravenous"' in evidence
    assert 'SeriesDescription names the phase "arterial"' in evidence
    text = json.dumps([example.label, example.derivation, example.details], default=str)
    for header_text in ("LIWU", "ARTERIAL Dr", "Iohexol", "Intravenous route", "Acme", "Super Dooper"):
        assert header_text not in text


def test_enhanced_ct_administered_no_in_every_frame_is_non_contrast(tmp_path: Path) -> None:
    ds = _acquired(pydicom.dcmread(ECT))
    usage = ds.SharedFunctionalGroupsSequence[0].ContrastBolusUsageSequence[0]
    usage.ContrastBolusAgentAdministered = "NO"
    usage.ContrastBolusAgentDetected = "NO"
    del usage.ContrastBolusAgentPhase
    agent = ds.ContrastBolusAgentSequence[0]
    agent.CodeValue, agent.CodeMeaning = "", ""  # placeholder agent item: the frames decide
    del agent.ContrastBolusAdministrationRouteSequence
    del agent.ContrastBolusIngredientCodeSequence
    example = _build(tmp_path, _write(ds, tmp_path, "plain.dcm"))
    assert example.label["contrast"] is False
    assert (
        example.label["evidence"]
        == "ContrastBolusUsageSequence states ContrastBolusAgentAdministered NO (2 of 2 frame(s))"
    )


def test_enhanced_ct_administered_no_with_a_known_agent_is_a_conflict(tmp_path: Path) -> None:
    ds = _acquired(pydicom.dcmread(ECT))
    ds.SharedFunctionalGroupsSequence[0].ContrastBolusUsageSequence[0].ContrastBolusAgentAdministered = "NO"
    ds.SharedFunctionalGroupsSequence[0].ContrastBolusUsageSequence[0].ContrastBolusAgentDetected = "NO"
    with pytest.raises(SkipItem) as info:
        _build(tmp_path, _write(ds, tmp_path, "odd.dcm"))
    assert info.value.reason == "conflicting_contrast_evidence"


def test_enhanced_ct_frames_that_disagree_are_skipped(tmp_path: Path) -> None:
    ds = _acquired(pydicom.dcmread(ECT))
    usage = ds.SharedFunctionalGroupsSequence[0].ContrastBolusUsageSequence
    del ds.SharedFunctionalGroupsSequence[0].ContrastBolusUsageSequence
    for answer, frame in zip(("NO", "YES"), ds.PerFrameFunctionalGroupsSequence, strict=True):
        item = copy.deepcopy(usage)
        item[0].ContrastBolusAgentAdministered = item[0].ContrastBolusAgentDetected = answer
        frame.ContrastBolusUsageSequence = item
    with pytest.raises(SkipItem) as info:
        _build(tmp_path, _write(ds, tmp_path, "mixed.dcm"))
    assert info.value.reason == "conflicting_contrast_evidence" and "frames disagree" in info.value.detail


@pytest.mark.parametrize(
    ("meta", "contrast", "reason"),
    [
        ({"ContrastBolusIngredient": "IODINE"}, True, 'ContrastBolusIngredient is "iodine"'),
        ({"ContrastBolusAgent": "OMNIPAQUE 350"}, True, 'ContrastBolusAgent names the known agent "iohexol"'),
        ({"ContrastBolusAgent": "ISOVUE300/100"}, True, 'ContrastBolusAgent names the known agent "iopamidol"'),
        (
            {"ContrastBolusAgent": "XYZ-7"},
            True,
            "ContrastBolusAgent is set (not a negation; agent not in the vocabulary)",
        ),
        ({"ContrastBolusAgent": "NONE"}, False, "ContrastBolusAgent states no agent (a negation)"),
        ({"ContrastBolusRoute": "IV"}, True, 'ContrastBolusRoute names the route "intravenous"'),
        ({"SeriesDescription": "CT ABD W/O Dr Wu"}, False, 'SeriesDescription says "non-contrast"'),
    ],
)
def test_each_attribute_gives_a_controlled_reason(meta: dict, contrast: bool, reason: str) -> None:
    got, _phase, reasons = evidence_from_tags(meta)
    assert got is contrast and reasons == [reason]


def test_oral_contrast_alone_is_not_intravenous_evidence() -> None:
    with pytest.raises(SkipItem) as info:
        evidence_from_tags({"ContrastBolusAgent": "BARIUM SULFATE", "ContrastBolusRoute": "ORAL"})
    assert info.value.reason == "contrast_not_intravenous"
    assert "BARIUM" not in info.value.detail and "ORAL" not in info.value.detail
    got, _phase, _reasons = evidence_from_tags({"ContrastBolusAgent": "ORAL", "ContrastBolusRoute": "IV"})
    assert got is True  # oral plus an intravenous route: IV contrast was given


def test_malformed_contrast_sequences_are_no_evidence_not_a_crash() -> None:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    from medblink_build.readers.dicom_contrast import contrast_attributes

    ds = pydicom.Dataset()
    for tag, vr, value in ((0x00180012, "UN", b"\x01\x02\x03\x04"), (0x52009229, "LO", b"not a sequence")):
        # as a file stores them: ContrastBolusAgentSequence unparsable UN, SharedFunctionalGroups with a wrong VR
        ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, True, True)
    facts = contrast_attributes(ds)
    assert facts.get("ContrastBolusAgentSequence", []) == [] and "ContrastBolusUsage" not in facts


def test_build_records_the_real_perfusion_map_as_a_derived_skip(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import run_cli

    src = tmp_path / "ect"
    src.mkdir()
    shutil.copy(ECT, src / "eCT_Supplemental.dcm")
    (src / "source.toml").write_text(
        'id = "ect"\npublic_paths = true\nname = "eCT"\nlicense = "MIT"\naccess = "open"\nhomepage = "x"\n'
        'citation = "pydicom-data"\n'
        'how_to_obtain = "pydicom-data"\nmodality = "CT"\nanatomy = "head"\n[layout]\nitem = "file"\n'
    )
    out = tmp_path / "out"
    code, output = run_cli("recipe", "enhancement", "--source", src, "--out", out, "--quiet", "--allow-empty")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    reasons = {s["key"].rsplit("/", 1)[-1]: s["reason"] for s in manifest["skipped"]["items"]}
    assert reasons == {"eCT_Supplemental.dcm": "derived_image"}  # recorded, with its reason
