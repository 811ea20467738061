"""The "release at real sizes" corpus: every MedBLINK task's source in its real layout, real sizes.

Each writer puts one source at ROOT/<source id>, laid out as its manifest in data_manifests/ reads it
(the layouts tests/layout_fixtures.py writes small, with its table headers), with a few distinct
files at the real size and hard links for the other items. The toolkit reads and hashes each item
in full and has no content cache, so hard links make the disk small without flattering it.
Generation is deterministic (seeded phantoms, UIDs from fixed seeds) and cached per source by its
parameters (`.complete.json`, as harness/corpus.py does).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import EXPLICIT_VR_LE

#: Bumped whenever a writer's output changes, so a cached corpus is rewritten.
CORPUS_VERSION = 3  # 3: CT series items are hard links (hcc-tace-seg lists by folder)

#: Real sizes (the issue's list). TINY is for the layout test: same layouts, toy pixels.
REAL: dict[str, Any] = {
    "radiograph_px": 2000,
    "dental_px": (2900, 1300),  # DENTEX panoramic (width, height)
    "ct_shape": (300, 512, 512),
    "totalseg_shape": (500, 512, 512),
    "totalseg_masks": 117,
    "slide_px": 40_000,
    "endoscopy_px": (1000, 1000),
    "ultrasound_px": (800, 600),
}
TINY: dict[str, Any] = {
    "radiograph_px": 256,
    "dental_px": (512, 256),
    "ct_shape": (12, 64, 64),
    "totalseg_shape": (16, 64, 64),
    "totalseg_masks": 20,
    "slide_px": 12_288,  # the smallest that still holds a tile with two classes
    "endoscopy_px": (320, 256),
    "ultrasound_px": (480, 360),
}


# =============================================================================== helpers


def _marker_ok(folder: Path, params: dict[str, Any]) -> bool:
    try:
        marker = json.loads((folder / ".complete.json").read_text())
    except (OSError, ValueError):
        return False
    marker.pop("info", None)
    return marker == params


def _pool(dest: Path) -> Path:
    """Where a source's distinct files live: beside the sources, never inside a source root."""
    return dest.parent / ".pool" / dest.name


def _link(src: Path, dst: Path) -> None:
    """dst as a hard link to src (a copy on another file system)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _png(path: Path, pixels: Any) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, compress_level=6)
    return path


def _resized(pixels: Any, size: tuple[int, int], nearest: bool = False) -> Any:
    import numpy as np
    from PIL import Image

    im = Image.fromarray(pixels)
    if im.size == size:
        return pixels
    return np.asarray(im.resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS))


def _spacing(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    """The same anatomy whatever the voxel count: 300 mm of abdomen, a 358 mm field of view
    (0.7 mm pixels at 512), as harness/corpus.py's CT series."""
    return (300.0 / shape[0], 358.4 / shape[1], 358.4 / shape[2])


# =============================================================================== X-ray


def write_nih(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 8) -> dict[str, Any]:
    """NIH ChestX-ray14 (Kaggle layout images_NNN/images/*.png + Data_Entry_2017.csv): 8-bit PNG
    chest radiographs at the radiograph size; feeds orientation (cxr) and age."""
    import numpy as np

    from medblink_build.samples.phantoms import chest_pa

    px = sizes["radiograph_px"]
    pool = _pool(dest)
    files = [_png(pool / f"chest_{i:03d}.png", (chest_pa(i, px) >> 4).astype(np.uint8)) for i in range(distinct)]
    header = (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    )
    lines = [header]
    for k in range(n):
        name = f"{k + 1:08d}_000.png"
        _link(files[k % distinct], dest / f"images_{1 + k // 10_000:03d}" / "images" / name)
        age, sex = (30, 45, 52, 70, 78, 40, 58)[k % 7], "MF"[k % 2]  # years, far from the age bins' edges
        lines.append(f"{name},No Finding,0,{k + 1},{age},{sex},PA,{px},{px},0.143,0.143,")
    (dest / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"layout": "images_001/images/NNNNNNNN_000.png + Data_Entry_2017.csv", "size": f"{px} x {px} PNG"}


def write_fracatlas(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 8) -> dict[str, Any]:
    """FracAtlas: images/{Fractured,Non_fractured}/IMGnnnnnnn.jpg, dataset.csv, and the labels.csv
    (path, anatomy, view) the manifest asks a maintainer to add for AP pelvis views."""
    import numpy as np
    from PIL import Image

    from medblink_build.samples.phantoms import pelvis_ap

    px = sizes["radiograph_px"]
    pool = _pool(dest)
    pool.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(distinct):
        path = pool / f"pelvis_{i:03d}.jpg"
        Image.fromarray((pelvis_ap(i, px) >> 4).astype(np.uint8)).save(path, quality=92)
        files.append(path)
    table = ["image_id,hand,leg,hip,shoulder,mixed,hardware,multiscan,fractured,fracture_count,frontal,lateral,oblique"]
    labels = ["path,anatomy,view"]
    for k in range(n):
        folder = ("Non_fractured", "Fractured")[k % 2]
        name = f"IMG{k:07d}.jpg"
        _link(files[k % distinct], dest / "images" / folder / name)
        table.append(f"{name},0,0,1,0,0,0,0,{k % 2},{k % 2},1,0,0")
        labels.append(f"images/{folder}/{name},pelvis,AP")
    (dest / "dataset.csv").write_text("\n".join(table) + "\n", encoding="utf-8")
    (dest / "labels.csv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return {
        "layout": "images/{Fractured,Non_fractured}/IMGnnnnnnn.jpg + dataset.csv + labels.csv",
        "size": f"{px} x {px} JPEG",
    }


# =============================================================================== CT series (TCIA)

NBIA_HEADER = (
    "Series UID,Collection,3rd Party Analysis,Data Description URI,Subject ID,Study UID,Study Description,"
    "Study Date,Series Description,Manufacturer,Modality,SOP Class Name,SOP Class UID,Number of Images,"
    "File Size,File Location,Download Timestamp"
)
#: The two distinct series: (series number, SeriesDescription, contrast in the phantom).
HCC_PHASES = ((2, "PRE CONTRAST LIVER", False), (4, "PORTAL VENOUS LIVER", True))


def write_hcc_tace_seg(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 2) -> dict[str, Any]:
    """HCC-TACE-Seg as the NBIA Data Retriever writes it (one folder per series, metadata.csv), every
    series a 512 x 512 x 300 single-frame CT series, the phase in SeriesDescription.

    The manifest lists this layout one series per folder (`item = "series-folder"`), so every
    item is a folder of hard links to one of the `distinct` written series, as for the other
    sources. (Corpus version 2 wrote real copies with patched UIDs, 21 GB at full scale, while the
    source was grouped by SeriesInstanceUID: more than this VM kept in its page cache, so the CT
    run partly measured the disk.)"""
    import pydicom

    from medblink_build.samples.phantoms_ct import abdomen
    from medblink_build.samples.volume_writer import write_ct_series

    slices, rows, cols = sizes["ct_shape"]
    download = dest / "manifest-1643035385102"
    study = "02-15-1998-NA-CT ABDOMEN LIVER-41826"
    originals: list[tuple[list[Path], str, str, int, str]] = []
    for d in range(distinct):
        number, description, contrast = HCC_PHASES[d % len(HCC_PHASES)]
        phantom = abdomen(d, shape=(slices, rows, cols), spacing=_spacing(sizes["ct_shape"]), contrast=contrast)
        files = write_ct_series(
            _pool(dest) / f"series_{d}",
            phantom.hu,
            phantom.spacing,
            phantom.origin,
            uid_seed=f"medblink-release-bench/hcc/{d}",
            transfer_syntax=EXPLICIT_VR_LE,
            series_description=description,
            extra={"SeriesNumber": number},
        )
        del phantom
        head = pydicom.dcmread(files[0], stop_before_pixels=True)
        originals.append((files, str(head.StudyInstanceUID), str(head.SeriesInstanceUID), number, description))
    lines = [NBIA_HEADER]
    for k in range(n):
        files, study_uid, series_uid, number, description = originals[k % distinct]
        patient = f"HCC_{1 + k // 2:03d}"
        series = f"{number}.000000-{description}-{(k * 7717) % 100_000:05d}"
        folder = download / "HCC-TACE-Seg" / patient / study / series
        for j, src in enumerate(files, start=1):
            _link(src, folder / f"1-{j:03d}.dcm")
        lines.append(
            f"{series_uid},HCC-TACE-Seg,NO,https://doi.org/10.7937/TCIA.5FNA-0924,{patient},{study_uid},"
            f"CT ABDOMEN LIVER,02-15-1998,{description},GE MEDICAL SYSTEMS,CT,CT Image Storage,"
            f"1.2.840.10008.5.1.4.1.1.2,{len(files)},{sum(f.stat().st_size for f in files) / 2**20:.2f} MB,"
            f"./HCC-TACE-Seg/{patient}/{study}/{series},2022-01-24T14:23:05.102"
        )
    (download / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "layout": "manifest-N/HCC-TACE-Seg/<patient>/<study>/<series>/1-NNN.dcm + metadata.csv (NBIA)",
        "size": f"{cols} x {rows} x {slices} int16, explicit VR LE, one file per slice",
    }


# =============================================================================== TotalSegmentator

#: TotalSegmentator v2 class names beyond the phantom's organs (filled up to the mask count).
_TS_MORE = (
    [f"vertebrae_{p}{i}" for p, m in (("C", 7), ("T", 12), ("L", 5)) for i in range(1, m + 1)]
    + ["vertebrae_S1", "sacrum", "spinal_cord", "skull", "brain", "sternum", "costal_cartilages", "heart"]
    + [f"rib_{side}_{i}" for side in ("left", "right") for i in range(1, 13)]
    + [
        f"{name}_{side}"
        for name in (
            "adrenal_gland",
            "humerus",
            "scapula",
            "clavicula",
            "femur",
            "hip",
            "gluteus_maximus",
            "gluteus_medius",
            "gluteus_minimus",
            "autochthon",
            "iliopsoas",
            "iliac_artery",
            "iliac_vena",
            "kidney_cyst",
            "common_carotid_artery",
            "subclavian_artery",
            "brachiocephalic_vein",
        )
        for side in ("left", "right")
    ]
    + ["esophagus", "trachea", "thyroid_gland", "small_bowel", "duodenum", "colon", "urinary_bladder", "prostate"]
    + ["lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right"]
    + ["lung_lower_lobe_right", "pulmonary_vein", "brachiocephalic_trunk", "superior_vena_cava"]
    + ["atrial_appendage_left", "portal_vein_and_splenic_vein"]
)


def write_totalsegmentator(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 2) -> dict[str, Any]:
    """TotalSegmentator v2: sNNNN/ct.nii.gz + sNNNN/segmentations/<class>.nii.gz (117 classes, the
    phantom's organs filled, the others empty, as in a scan that shows only part of the body) and
    meta.csv (UTF-8 BOM, ';'). Subjects are hard links to `distinct` written ones; every empty mask
    is one file hard-linked under each name."""
    import numpy as np

    from medblink_build.samples.phantoms_ct import ORGANS, abdomen
    from medblink_build.samples.volume_writer import write_nifti

    shape = tuple(sizes["totalseg_shape"])
    spacing = _spacing(shape)
    others = [c for c in _TS_MORE if c not in ORGANS.values()][: max(0, sizes["totalseg_masks"] - len(ORGANS))]
    pool = _pool(dest)
    subjects = []
    for d in range(distinct):
        phantom = abdomen(500 + d, shape=shape, spacing=spacing, contrast=True)
        folder = pool / f"s{d}"
        write_nifti(folder / "ct.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
        for organ_id, name in ORGANS.items():
            mask = (phantom.labels == organ_id).astype(np.uint8)
            write_nifti(folder / "segmentations" / f"{name}.nii.gz", mask, phantom.spacing, phantom.origin)
        if d == 0:
            empty = write_nifti(pool / "empty.nii.gz", np.zeros(shape, np.uint8), phantom.spacing, phantom.origin)
        subjects.append(folder)
        del phantom
    rows = [
        "\ufeffimage_id;age;gender;institute;study_type;split;manufacturer;scanner_model;kvp;pathology;pathology_location"
    ]
    for k in range(n):
        subject, src = f"s{k + 1:04d}", subjects[k % distinct]
        for f in sorted(src.rglob("*.nii.gz")):
            _link(f, dest / subject / f.relative_to(src))
        for name in others:
            _link(empty, dest / subject / "segmentations" / f"{name}.nii.gz")
        rows.append(
            f"{subject};{30 + k % 50};{'mf'[k % 2]};A;ct abdomen-pelvis;train;siemens;SOMATOM Definition AS;120;;"
        )
    (dest / "meta.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    masks = len(ORGANS) + len(others)
    return {
        "layout": "sNNNN/ct.nii.gz + sNNNN/segmentations/<class>.nii.gz + meta.csv",
        "size": f"{shape[2]} x {shape[1]} x {shape[0]} int16 CT, {masks} uint8 masks ({len(ORGANS)} filled)",
    }


# =============================================================================== endoscopy, ultrasound


def write_c3vd(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 6) -> dict[str, Any]:
    """C3VD registered sequences: N_color.png (RGB) with NNNN_depth.tiff (16-bit, 0-100 mm) and
    pose.txt, 100 frames per sequence folder."""
    from PIL import Image

    from medblink_build.samples.sample_endoscopy import encode_depth, render_frame

    w, h = sizes["endoscopy_px"]
    pool = _pool(dest)
    pool.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(distinct):
        rgb, depth = render_frame(2000 + i, w, h)
        colour = _png(pool / f"{i}_color.png", rgb)
        Image.fromarray(encode_depth(depth)).save(pool / f"{i:04d}_depth.tiff")
        pairs.append((colour, pool / f"{i:04d}_depth.tiff"))
    per_sequence = 100
    names = ("cecum_t1_a", "cecum_t2_b", "sigmoid_t1_a", "trans_t1_a", "desc_t4_a", "trans_t3_b")
    for k in range(n):
        seq, frame = divmod(k, per_sequence)
        folder = dest / f"{names[seq % len(names)]}{'' if seq < len(names) else f'_{seq}'}"
        colour, depth = pairs[k % distinct]
        _link(colour, folder / f"{frame}_color.png")
        _link(depth, folder / f"{frame:04d}_depth.tiff")
    for folder in sorted(p for p in dest.iterdir() if p.is_dir()):
        frames = len(list(folder.glob("*_color.png")))
        pose = ",".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0", "0", "0", "{z}", "1"])
        (folder / "pose.txt").write_text("".join(pose.format(z=i) + "\n" for i in range(frames)), encoding="utf-8")
    return {"layout": "<sequence>/N_color.png + NNNN_depth.tiff + pose.txt", "size": f"{w} x {h} RGB + 16-bit depth"}


def write_busi(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 6) -> dict[str, Any]:
    """BUSI: Dataset_BUSI_with_GT/<class>/<class> (N).png (RGB) with <class> (N)_mask.png."""
    import numpy as np

    from medblink_build.samples.sample_ultrasound import GEOMETRIES, render_frame

    w, h = sizes["ultrasound_px"]
    pool = _pool(dest)
    pairs = []
    for i in range(distinct):
        grey = _resized(render_frame(GEOMETRIES["linear"], 40 + i), (w, h))
        rgb = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
        mask = np.zeros(grey.shape, np.uint8)
        mask[h * 5 // 12 : h * 5 // 9, w * 5 // 12 : w * 13 // 24] = 255
        pairs.append((_png(pool / f"{i}.png", rgb), _png(pool / f"{i}_mask.png", mask)))
    classes = ("benign", "malignant")
    for k in range(n):
        cls, number = classes[k % 2], 1 + k // 2
        image, mask = pairs[k % distinct]
        folder = dest / "Dataset_BUSI_with_GT" / cls
        _link(image, folder / f"{cls} ({number}).png")
        _link(mask, folder / f"{cls} ({number})_mask.png")
    (dest / "Dataset_BUSI_with_GT" / "normal").mkdir(parents=True, exist_ok=True)
    return {"layout": "Dataset_BUSI_with_GT/<class>/<class> (N).png + (N)_mask.png", "size": f"{w} x {h} RGB PNG"}


# =============================================================================== histology, dental


def write_slides(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 1) -> dict[str, Any]:
    """Tiled pyramidal TIFF slides (0.25 um/px, 512-px tiles, deflate; OpenSlide reads them) with a
    QuPath-style GeoJSON beside each, in the slide layout of the `medblink-sample-histology`
    manifest (slides/<name>.tif + slides/<name>.geojson). The published skin source is plain
    TIFF sections of ~5,500 x 8,000 px, not slides, so the slide size needs this layout. Written by
    benchmarks/wsi_memory.py's streamed writer: a few distinct tiles repeated."""
    import sys

    from .common import HERE

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import wsi_memory

    px = sizes["slide_px"]
    pool = _pool(dest)
    pool.mkdir(parents=True, exist_ok=True)
    slides = []
    for d in range(distinct):
        path = pool / f"slide_{d}.tif"
        wsi_memory.write_slide(path, px)
        slides.append(path)
    for k in range(n):
        src = slides[k % distinct]
        _link(src, dest / "slides" / f"slide_{k:04d}.tif")
        _link(src.with_suffix(".geojson"), dest / "slides" / f"slide_{k:04d}.geojson")
    return {"layout": "slides/slide_NNNN.tif + slide_NNNN.geojson", "size": f"{px} x {px} RGB pyramid"}


def write_dentex(dest: Path, n: int, sizes: dict[str, Any], distinct: int = 4) -> dict[str, Any]:
    """DENTEX training_data/quadrant_enumeration/xrays/train_N.png + train_quadrant_enumeration.json:
    the sample's panoramic phantoms (all third molars or some missing) scaled to the real size, with
    their COCO-like boxes and polygons scaled alike."""
    from medblink_build.samples import sample_dental as sd

    w, h = sizes["dental_px"]
    sx, sy = w / sd.WIDTH, h / sd.HEIGHT
    sub = dest / sd.ENUMERATION
    pool = _pool(dest)
    images, annotations, distinct_anns = [], [], []
    molars = (
        (True, True, True, True),
        (True, False, True, False),
        (False, True, True, True),
        (True, True, False, False),
    )
    for d in range(distinct):
        case = sd.DentalCase(molars[d % len(molars)], 0)
        pixels, anns = sd._image_and_annotations(case, d, 0, 0)
        _png(pool / f"pano_{d}.png", _resized(pixels, (w, h)))
        for a in anns:
            x, y, bw, bh = a["bbox"]
            a["bbox"] = [round(x * sx, 2), round(y * sy, 2), round(bw * sx, 2), round(bh * sy, 2)]
            a["segmentation"] = [[round(v * (sx if i % 2 == 0 else sy), 2) for i, v in enumerate(a["segmentation"][0])]]
            a["area"] = round(a["area"] * sx * sy, 2)
        distinct_anns.append(anns)
    for k in range(n):
        name = f"train_{k}.png"
        _link(pool / f"pano_{k % distinct}.png", sub / "xrays" / name)
        images.append({"height": h, "width": w, "id": k + 1, "file_name": name})
        for a in distinct_anns[k % distinct]:
            annotations.append({**a, "image_id": k + 1, "id": len(annotations) + 1})
    doc = {"images": images, "annotations": annotations, **sd._categories(False)}
    (sub / "train_quadrant_enumeration.json").write_text(json.dumps(doc) + "\n", encoding="utf-8")
    return {
        "layout": "training_data/quadrant_enumeration/xrays/train_N.png + train_quadrant_enumeration.json",
        "size": f"{w} x {h} PNG",
    }


# =============================================================================== the release

#: (config, recipe, published count, source id, writer, items per row: source items written per
#: row wanted). 5 % more items where the recipe's seeded draw (markers, pairs, tiles) may skip one:
#: none was skipped at --scale 0.1, and the build stops once every count is reached.
TASKS: tuple[tuple[str, str, int, str, Callable[..., dict[str, Any]], float], ...] = (
    ("imaging_orientation_cxr", "orientation", 200, "nih-chestxray14", write_nih, 1.0),
    ("imaging_orientation_pelvic", "orientation", 200, "fracatlas", write_fracatlas, 1.0),
    ("image_enhancement_detection", "enhancement", 134, "hcc-tace-seg", write_hcc_tace_seg, 1.0),
    ("relative_position", "relative-position", 176, "totalsegmentator", write_totalsegmentator, 1.05),
    ("visual_depth_estimation", "visual-depth", 144, "c3vd", write_c3vd, 1.05),
    ("wave_based_depth_estimation", "wave-depth", 146, "busi", write_busi, 1.05),
    ("histology_structure", "histology-structure", 141, "medblink-sample-histology", write_slides, 1.05),
    ("morphology_quantification", "morphology-count", 88, "dentex", write_dentex, 1.05),
    ("age_estimation", "age", 200, "nih-chestxray14", write_nih, 1.0),
)


def scaled_counts(scale: float, tasks: list[str] | None = None) -> dict[str, int]:
    """Rows wanted per config: the published count times `scale` (at least 1)."""
    return {t[0]: max(1, round(t[2] * scale)) for t in TASKS if tasks is None or t[0] in tasks}


def source_items(counts: dict[str, int]) -> dict[str, int]:
    """Items to write per source: enough for every config it feeds, with the skip margin."""
    items: dict[str, int] = {}
    for config, _, _, source, _, per_row in TASKS:
        if config in counts:
            items[source] = max(items.get(source, 0), math.ceil(counts[config] * per_row))
    return items


def release_toml(counts: dict[str, int], path: Path) -> Path:
    """The harness's own release definition: the published counts (scaled) over these sources."""
    lines = [
        'name = "MedBLINK at real sizes (benchmark)"',
        'version = "1.0.0"',
        "seed = 0",
        'description = "benchmarks/release_bench.py: the published counts over synthetic real-size sources."',
    ]
    for config, recipe, _, source, _, _ in TASKS:
        if config in counts:
            lines += ["", "[[task]]", f'id = "{config}"', f'recipe = "{recipe}"', f"count = {counts[config]}"]
            lines.append(f'sources = ["{source}"]')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_corpus(root: Path, counts: dict[str, int], sizes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every source the configs in `counts` read, under root/<source id>, cached by parameters."""
    sizes = dict(sizes or REAL)
    writers = {t[3]: t[4] for t in TASKS}
    report: dict[str, Any] = {}
    for source, n in source_items(counts).items():
        dest = root / source
        params = {
            "items": n,
            "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
            "version": CORPUS_VERSION,
        }
        t0 = time.perf_counter()
        info: dict[str, Any] = {}
        if _marker_ok(dest, params):
            info = json.loads((dest / ".complete.json").read_text()).get("info", {})
            generated = False
        else:
            for old in (dest, _pool(dest)):
                if old.exists():
                    shutil.rmtree(old)
            dest.mkdir(parents=True)
            print(f"  writing {source}: {n} items ...", flush=True)
            info = writers[source](dest, n, sizes)
            generated = True
        seconds = time.perf_counter() - t0
        if generated:
            info["write_s"] = round(seconds, 1)
        info.update(_disk(dest, _pool(dest)), items=n)
        (dest / ".complete.json").write_text(json.dumps({**params, "info": info}, sort_keys=True))
        info["generated"] = generated
        report[source] = info
    return report


def _disk(folder: Path, pool: Path) -> dict[str, Any]:
    """Files of the source, distinct inodes and the bytes they really take (each inode once)."""
    seen: set[int] = set()
    files = used = logical = 0
    for p in [*folder.rglob("*"), *pool.rglob("*")]:
        if not p.is_file() or p.name == ".complete.json":
            continue
        st = p.stat()
        if p.is_relative_to(folder):
            files += 1
            logical += st.st_size
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            used += st.st_size
    return {
        "files": files,
        "distinct_files": len(seen),
        "disk_mb": round(used / 2**20, 1),
        "logical_mb": round(logical / 2**20, 1),
    }
