"""Small copies of public sources in their real on-disk layouts (names, nesting, table headers).

Each writer puts one source at ROOT/<source id>, as `build --sources-root ROOT` expects, with tiny
images from the project's phantoms and writers in place of the real pixels. Folder and file names
and the bytes of every table header follow the layout its manifest records (see the manifest's
`[[verified]]` entries for where each fact was checked); the rows are invented.
"""

from __future__ import annotations

import gzip
import json
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image

from medblink_build.manifests import builtin_manifests
from medblink_build.samples.dicom_writer import write_radiograph
from medblink_build.samples.phantoms import chest_pa, pelvis_ap
from medblink_build.samples.phantoms_ct import ORGANS, abdomen
from medblink_build.samples.sample_dental import write_dental_sample
from medblink_build.samples.sample_endoscopy import encode_depth, render_frame
from medblink_build.samples.sample_histology import render_he, write_skin_tile
from medblink_build.samples.sample_ultrasound import GEOMETRIES
from medblink_build.samples.sample_ultrasound import render_frame as render_us
from medblink_build.samples.seg_writer import write_dicom_seg
from medblink_build.samples.volume_writer import write_ct_series, write_nifti

CT_SHAPE = (16, 64, 64)
CT_SPACING = (6.0, 4.5, 4.5)
BOM = "\ufeff"


def _png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, compress_level=6)


def _text(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def _chest8(variant: int, size: int = 256) -> np.ndarray:
    return (chest_pa(variant, size) >> 4).astype(np.uint8)


# --- chest X-ray -------------------------------------------------------------------------------

#: The header of NIH's Data_Entry_2017.csv as shipped: the bracketed names split into columns and a
#: trailing comma gives a 12th, unnamed column (loaders see "Unnamed: 11").
NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
)
NIH_ROWS = (
    ("00000001_000.png", "Cardiomegaly", 0, 1, 58, "M", "PA"),
    ("00000001_001.png", "Cardiomegaly|Emphysema", 1, 1, 58, "M", "PA"),
    ("00000002_000.png", "No Finding", 0, 2, 81, "M", "AP"),
    ("00000003_000.png", "Hernia", 0, 3, 35, "F", "PA"),
)


def write_nih(root: Path, *, archives: bool = True) -> None:
    """NIH ChestX-ray14: unpacked archives images_001/images/... (or all under images/)."""
    dest = root / "nih-chestxray14"
    lines = [NIH_HEADER]
    for i, (name, findings, follow, patient, age, sex, view) in enumerate(NIH_ROWS):
        folder = f"images_{1 + i // 2:03d}/images" if archives else "images"
        _png(dest / folder / name, _chest8(i))
        lines.append(f"{name},{findings},{follow},{patient},{age},{sex},{view},2500,2048,0.168,0.168,")
    _text(dest / "Data_Entry_2017.csv", "\n".join(lines) + "\n")
    _text(dest / "train_val_list.txt", "\n".join(r[0] for r in NIH_ROWS[:3]) + "\n")
    _text(dest / "test_list.txt", NIH_ROWS[3][0] + "\n")


def write_rsna_pneumonia(root: Path) -> None:
    """RSNA Pneumonia Detection (Kaggle): stage_2_train_images/<patientId>.dcm + labels CSV."""
    dest = root / "rsna-pneumonia"
    ids = ("0004cfab-14fd-4e49-80ba-63a80b6bddd6", "00436515-870c-4b36-a041-de91049b9ab4")
    for i, pid in enumerate(ids):
        with warnings.catch_warnings():  # a bare-number PatientAge (no unit letter) is the point
            warnings.simplefilter("ignore")
            write_radiograph(
                dest / "stage_2_train_images" / f"{pid}.dcm",
                chest_pa(10 + i, 256),
                uid_seed=f"layouts/rsna/{pid}",
                view_position=("PA", "AP")[i],
                window=(2048.0, 4096.0),
                extra={"PatientAge": ("51", "48")[i], "PatientSex": "F"},
            )
    _text(
        dest / "stage_2_train_labels.csv",
        f"patientId,x,y,width,height,Target\n{ids[0]},,,,,0\n{ids[1]},264.0,152.0,213.0,379.0,1\n"
        f"{ids[1]},562.0,152.0,256.0,453.0,1\n",
    )
    _text(
        dest / "stage_2_detailed_class_info.csv",
        f"patientId,class\n{ids[0]},No Lung Opacity / Not Normal\n{ids[1]},Lung Opacity\n{ids[1]},Lung Opacity\n",
    )


def write_mimic_cxr_jpg(root: Path) -> None:
    """MIMIC-CXR-JPG: files/pNN/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg + mimic-cxr-2.0.0-metadata.csv(.gz)."""
    dest = root / "mimic-cxr-jpg"
    header = (
        "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
        "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
        "PatientOrientationCodeSequence_CodeMeaning"
    )
    rows = [header]
    images = (
        ("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "PA"),
        ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "LATERAL"),
    )
    for i, (dicom_id, view) in enumerate(images):
        path = dest / "files" / "p10" / "p10000032" / "s50414267" / f"{dicom_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_chest8(20 + i)).save(path, quality=92)
        meaning = {"PA": "postero-anterior", "LATERAL": "lateral"}[view]
        rows.append(
            f"{dicom_id},10000032,50414267,CHEST (PA AND LAT),{view},256,256,21800506,213014.531,"
            f"CHEST (PA AND LAT),{meaning},Erect"
        )
    text = "\n".join(rows) + "\n"
    _text(dest / "mimic-cxr-2.0.0-metadata.csv", text)
    (dest / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))


def write_vindr_cxr(root: Path) -> None:
    """VinDr-CXR (PhysioNet 1.0.0): train/<image_id>.dicom, test/<image_id>.dicom, annotations/."""
    dest = root / "vindr-cxr"
    for i, (split, image_id) in enumerate(
        (
            ("train", "000434271f63a053c4128a0ba6352c7f"),
            ("train", "00053190460d56c53cc3e57321387478"),
            ("test", "002a34c58c5b758217ed1f584ccbcfe9"),
        )
    ):
        write_radiograph(
            dest / split / f"{image_id}.dicom",
            chest_pa(30 + i, 256),
            uid_seed=f"layouts/vindr/{image_id}",
            view_position=None,
            patient_orientation=None,
            window=(2048.0, 4096.0),
        )
    (dest / "annotations").mkdir(parents=True, exist_ok=True)  # its tables are not read (columns unverified)


def write_rsna_bone_age(root: Path) -> None:
    """RSNA Pediatric Bone Age (Kaggle kmader/rsna-bone-age): the zip's folder is doubled."""
    dest = root / "rsna-bone-age"
    rows = ((1377, 180, "False"), (1378, 12, "False"), (1379, 94, "True"))
    for i, (case, _, _) in enumerate(rows):
        folder = dest / "boneage-training-dataset" / "boneage-training-dataset"
        _png(folder / f"{case}.png", (pelvis_ap(i, 256) >> 4).astype(np.uint8))
    body = "".join(f"{case},{months},{male}\n" for case, months, male in rows)
    _text(dest / "boneage-training-dataset.csv", "id,boneage,male\n" + body)


def write_fracatlas(root: Path) -> None:
    """FracAtlas: images/{Fractured,Non_fractured}/IMGnnnnnnn.jpg + dataset.csv (+ a user labels.csv)."""
    dest = root / "fracatlas"
    names = (("Fractured", "IMG0000019.jpg"), ("Non_fractured", "IMG0000025.jpg"), ("Non_fractured", "IMG0000031.jpg"))
    for i, (folder, name) in enumerate(names):
        path = dest / "images" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((pelvis_ap(i, 256) >> 4).astype(np.uint8)).save(path, quality=92)
    _text(
        dest / "dataset.csv",
        "image_id,hand,leg,hip,shoulder,mixed,hardware,multiscan,fractured,fracture_count,frontal,lateral,oblique\n"
        "IMG0000019.jpg,0,0,1,0,0,0,0,1,1,1,0,0\nIMG0000025.jpg,0,0,1,0,0,0,0,0,0,1,0,0\n"
        "IMG0000031.jpg,0,1,0,0,0,0,0,0,0,1,0,0\n",
    )
    # What the manifest asks a maintainer to add: which hip images are AP pelvis views.
    _text(
        dest / "labels.csv",
        "path,anatomy,view\nimages/Fractured/IMG0000019.jpg,pelvis,AP\nimages/Non_fractured/IMG0000025.jpg,pelvis,AP\n",
    )


# --- CT ----------------------------------------------------------------------------------------


def write_pengwin_task2(root: Path) -> None:
    """PENGWIN 2024 task 2: train/input/images/x-ray/NNN_NNNN.tif DRRs + train/output/images/x-ray labels."""
    dest = root / "pengwin-2024-task2" / "train"
    for k, name in enumerate(("001_0000.tif", "001_0250.tif")):
        drr = pelvis_ap(40 + k, 256).astype(np.float32) / 4095.0  # DRR intensities (type unverified)
        (dest / "input" / "images" / "x-ray").mkdir(parents=True, exist_ok=True)
        Image.fromarray(drr).save(dest / "input" / "images" / "x-ray" / name)
        (dest / "output" / "images" / "x-ray").mkdir(parents=True, exist_ok=True)
        Image.fromarray((drr > 0.5).astype(np.uint8)).save(dest / "output" / "images" / "x-ray" / name)


def write_siim_ct(root: Path) -> None:
    """Kaggle "CT Medical Images": dicom_dir/ID_0000_AGE_0060_CONTRAST_1_CT.dcm, tiff_images/, overview.csv."""
    dest = root / "siim-ct-medical-images"
    rows = []
    for i, (age, contrast) in enumerate(((60, 1), (69, 0), (74, 1))):
        name = f"ID_{i:04d}_AGE_{age:04d}_CONTRAST_{contrast}_CT"
        phantom = abdomen(300 + i, shape=CT_SHAPE, spacing=CT_SPACING, contrast=bool(contrast))
        k = CT_SHAPE[0] // 2
        (written,) = write_ct_series(
            dest / "dicom_dir" / name,
            phantom.hu[k : k + 1],
            phantom.spacing,
            tuple(np.add(phantom.origin, (0.0, 0.0, k * CT_SPACING[0]))),
            uid_seed=f"layouts/siim/{i}",
        )
        written.rename(dest / "dicom_dir" / f"{name}.dcm")
        written.parent.rmdir()
        tiff = np.clip(phantom.hu[k] + 1024, 0, 4095).astype(np.uint16)
        (dest / "tiff_images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(tiff).save(dest / "tiff_images" / f"{name}.tif")
        rows.append(f"ID_{i:04d},{age},{contrast},{name}.dcm,{name}.tif")
    _text(dest / "overview.csv", "id,Age,Contrast,dicom_name,tiff_name\n" + "\n".join(rows) + "\n")


#: NBIA Data Retriever metadata.csv header (one row per series; File Location relative to the csv).
NBIA_HEADER = (
    "Series UID,Collection,3rd Party Analysis,Data Description URI,Subject ID,Study UID,Study Description,"
    "Study Date,Series Description,Manufacturer,Modality,SOP Class Name,SOP Class UID,Number of Images,"
    "File Size,File Location,Download Timestamp"
)
HCC_SERIES = (  # series number, description, contrast
    (2, "PRE CONTRAST LIVER", False),
    (3, "ARTERIAL PHASE LIVER", True),
    (4, "PORTAL VENOUS LIVER", True),
)


def _nbia_row(patient: str, study: str, series: str, description: str, modality: str, sop: str, n: int) -> str:
    sop_uid = {"CT": "1.2.840.10008.5.1.4.1.1.2", "SEG": "1.2.840.10008.5.1.4.1.1.66.4"}[modality]
    return (
        f"1.2.826.0.1.3680043.8.498.{zlib.crc32(series.encode())},HCC-TACE-Seg,NO,"
        f"https://doi.org/10.7937/TCIA.5FNA-0924,{patient},1.2.826.0.1.3680043.8.498.1,CT ABDOMEN LIVER,"
        f"02-15-1998,{description},GE MEDICAL SYSTEMS,{modality},{sop},{sop_uid},{n},1.20 MB,"
        f"./HCC-TACE-Seg/{patient}/{study}/{series},2022-01-24T14:23:05.102"
    )


def write_hcc_tace_seg(root: Path) -> None:
    """HCC-TACE-Seg through the NBIA Data Retriever (descriptive names), one folder per series."""
    dest = root / "hcc-tace-seg"
    download = dest / "manifest-1643035385102"
    study = "02-15-1998-NA-CT ABDOMEN LIVER-41826"
    rows = [NBIA_HEADER]
    for patient in ("HCC_001", "HCC_002"):
        for number, description, contrast in HCC_SERIES:
            uid_seed = f"layouts/hcc/{patient}/{number}"
            variant = 400 + number + (10 if patient == "HCC_002" else 0)
            phantom = abdomen(variant, shape=CT_SHAPE, spacing=CT_SPACING, contrast=contrast)
            series = f"{number}.000000-{description}-{number * 11111 + variant:05d}"
            folder = download / "HCC-TACE-Seg" / patient / study / series
            written = write_ct_series(
                folder,
                phantom.hu,
                phantom.spacing,
                phantom.origin,
                uid_seed=uid_seed,
                series_description=description,
                extra={"SeriesNumber": number, "PatientID": patient},
            )
            for k, path in enumerate(sorted(written, key=lambda p: p.name), start=1):
                path.rename(folder / f"1-{k:03d}.dcm")
            rows.append(_nbia_row(patient, study, series, description, "CT", "CT Image Storage", len(written)))
            if contrast and "PORTAL" in description:
                portal = (folder, phantom, sorted(folder.iterdir()))
        # The collection's DICOM-SEG (liver, mass, aorta) on the portal venous series, in its own folder.
        folder, phantom, reference = portal
        liver = phantom.labels == next(i for i, n in ORGANS.items() if n == "liver")
        mass = np.zeros_like(liver)
        z, y, x = (int(np.median(a)) for a in np.nonzero(liver))
        mass[z - 2 : z + 2, y - 3 : y + 3, x - 3 : x + 3] = liver[z - 2 : z + 2, y - 3 : y + 3, x - 3 : x + 3]
        aorta = phantom.labels == next(i for i, n in ORGANS.items() if n == "aorta")
        seg_series = f"300.000000-Segmentation-{len(patient) * 4321:05d}"
        write_dicom_seg(
            folder.parent / seg_series / "1-1.dcm",
            {"Liver": liver.astype(np.uint8), "Mass": mass.astype(np.uint8), "Aorta": aorta.astype(np.uint8)},
            reference,
            phantom.spacing,
            phantom.origin,
            uid_seed=f"layouts/hcc/{patient}/seg",
        )
        rows.append(_nbia_row(patient, study, seg_series, "Segmentation", "SEG", "Segmentation Storage", 1))
    _text(download / "metadata.csv", "\n".join(rows) + "\n")
    _text(download / "LICENSE", "Creative Commons Attribution 4.0 International (placeholder text)\n")


#: TotalSegmentator v2 meta.csv header, UTF-8 with a BOM, ';'-separated.
TOTALSEG_HEADER = (
    "image_id;age;gender;institute;study_type;split;manufacturer;scanner_model;kvp;pathology;pathology_location"
)


def write_totalsegmentator(root: Path) -> None:
    """TotalSegmentator v2: sNNNN/ct.nii.gz + sNNNN/segmentations/<class>.nii.gz, meta.csv (BOM, ';')."""
    dest = root / "totalsegmentator"
    rows = [BOM + TOTALSEG_HEADER]
    for s, (age, sex, split) in enumerate(((63, "m", "train"), (47, "f", "val")), start=1):
        folder = dest / f"s{s:04d}"
        phantom = abdomen(500 + s, shape=CT_SHAPE, spacing=CT_SPACING, contrast=True)
        write_nifti(folder / "ct.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
        for organ_id, name in ORGANS.items():
            mask = (phantom.labels == organ_id).astype(np.uint8)
            write_nifti(folder / "segmentations" / f"{name}.nii.gz", mask, phantom.spacing, phantom.origin)
        empty = np.zeros(phantom.hu.shape, np.uint8)  # v2 ships every class, most empty in a given scan
        write_nifti(folder / "segmentations" / "brain.nii.gz", empty, phantom.spacing, phantom.origin)
        rows.append(f"s{s:04d};{age};{sex};A;ct abdomen-pelvis;{split};siemens;SOMATOM Definition AS;120;;")
    _text(dest / "meta.csv", "\n".join(rows) + "\n")


#: AMOS label values -> the phantom's organ names (relative-position recipe names).
AMOS_CODES = {"spleen": 1, "kidney_right": 2, "kidney_left": 3, "liver": 6, "aorta": 8, "inferior_vena_cava": 9}


def write_btcv(root: Path) -> None:
    """BTCV (Synapse, RawData.zip): RawData/Training/{img,label}/{img,label}NNNN.nii.gz, RawData/Testing/img/."""
    dest = root / "btcv" / "RawData"
    codes = {"spleen": 1, "kidney_right": 2, "kidney_left": 3, "liver": 6, "aorta": 8, "inferior_vena_cava": 9}
    for case in (1, 2):
        phantom = abdomen(700 + case, shape=CT_SHAPE, spacing=CT_SPACING, contrast=True)
        labels = np.zeros(phantom.hu.shape, np.uint8)
        for organ_id, name in ORGANS.items():
            if name in codes:
                labels[phantom.labels == organ_id] = codes[name]
        write_nifti(dest / "Training" / "img" / f"img{case:04d}.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
        write_nifti(dest / "Training" / "label" / f"label{case:04d}.nii.gz", labels, phantom.spacing, phantom.origin)
    test = abdomen(799, shape=CT_SHAPE, spacing=CT_SPACING, contrast=True)
    write_nifti(dest / "Testing" / "img" / "img0061.nii.gz", test.hu, test.spacing, test.origin)


def write_amos(root: Path) -> None:
    """AMOS 2022 (amos22/): images{Tr,Va}/amos_NNNN.nii.gz + labels{Tr,Va}/ label maps, imagesTs/, dataset.json."""
    dest = root / "amos-2022"
    for case, split in ((1, "Tr"), (5, "Tr"), (410, "Va")):
        phantom = abdomen(600 + case, shape=CT_SHAPE, spacing=CT_SPACING, contrast=True)
        labels = np.zeros(phantom.hu.shape, np.uint8)
        for organ_id, name in ORGANS.items():
            if name in AMOS_CODES:
                labels[phantom.labels == organ_id] = AMOS_CODES[name]
        write_nifti(dest / f"images{split}" / f"amos_{case:04d}.nii.gz", phantom.hu, phantom.spacing, phantom.origin)
        write_nifti(dest / f"labels{split}" / f"amos_{case:04d}.nii.gz", labels, phantom.spacing, phantom.origin)
    # An MR case (id >= 500): not read by this CT manifest's include glob.
    mr = abdomen(699, shape=CT_SHAPE, spacing=CT_SPACING, contrast=False)
    write_nifti(dest / "imagesTr" / "amos_0507.nii.gz", mr.hu, mr.spacing, mr.origin)
    write_nifti(dest / "labelsTr" / "amos_0507.nii.gz", np.zeros(mr.hu.shape, np.uint8), mr.spacing, mr.origin)
    write_nifti(dest / "imagesTs" / "amos_0600.nii.gz", mr.hu, mr.spacing, mr.origin)  # test split: no labels
    doc = {
        "name": "AMOS",
        "licence": "CC-BY-SA 4.0",
        "labels": {"0": "background", "1": "spleen", "2": "right kidney", "3": "left kidney"},
        "numTraining": 3,
        "training": [
            {"image": f"./imagesTr/amos_{c:04d}.nii.gz", "label": f"./labelsTr/amos_{c:04d}.nii.gz"} for c in (1, 5)
        ],
    }
    _text(dest / "dataset.json", json.dumps(doc, indent=4) + "\n")


# --- ultrasound --------------------------------------------------------------------------------


def write_busi(root: Path) -> None:
    """BUSI: Dataset_BUSI_with_GT/<class>/<class> (N).png with (N)_mask.png and extra (N)_mask_1.png."""
    dest = root / "busi" / "Dataset_BUSI_with_GT"
    lin = GEOMETRIES["linear"]
    for k, (cls, n) in enumerate((("benign", 1), ("benign", 2), ("malignant", 1), ("normal", 1))):
        grey = render_us(lin, 40 + k)
        _png(dest / cls / f"{cls} ({n}).png", np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1)))
        mask = np.zeros(grey.shape, np.uint8)
        if cls != "normal":
            mask[150:200, 200:260] = 255
        _png(dest / cls / f"{cls} ({n})_mask.png", mask)
        if (cls, n) == ("benign", 2):  # a second lesion: BUSI ships it as an extra _mask_1 file
            second = np.zeros(grey.shape, np.uint8)
            second[230:260, 150:180] = 255
            _png(dest / cls / f"{cls} ({n})_mask_1.png", second)


def write_open_kidney(root: Path) -> None:
    """Open Kidney Ultrasound: a flat folder of <n>_IM-<nnnn>-<nnnn>_anon.png B-mode images."""
    dest = root / "open-kidney-ultrasound"
    for k, name in enumerate(("100_IM-0246-0030_anon.png", "101_IM-0027-0028_anon.png")):
        _png(dest / name, render_us(GEOMETRIES["curved"], 80 + k))


def write_camus(root: Path) -> None:
    """CAMUS (NIfTI release): database_nifti/patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}[_gt].nii.gz."""
    dest = root / "camus" / "database_nifti" / "patient0001"
    dest.mkdir(parents=True, exist_ok=True)
    sector = GEOMETRIES["sector"]
    for view in ("2CH", "4CH"):
        for phase in ("ED", "ES"):
            frame = render_us(sector, 70 + len(view + phase)).T[:, :, None].astype(np.uint8)
            affine = np.diag([0.3, 0.15, 1.0, 1.0])
            nib.save(nib.Nifti1Image(frame, affine), dest / f"patient0001_{view}_{phase}.nii.gz")
            nib.save(
                nib.Nifti1Image((frame > 200).astype(np.uint8), affine), dest / f"patient0001_{view}_{phase}_gt.nii.gz"
            )
        cine = np.repeat(render_us(sector, 90).T[:, :, None], 3, axis=2).astype(np.uint8)
        nib.save(
            nib.Nifti1Image(cine, np.diag([0.3, 0.15, 1.0, 1.0])), dest / f"patient0001_{view}_half_sequence.nii.gz"
        )
    _text(dest / "Info_2CH.cfg", "ED: 1\nES: 3\nNbFrame: 3\nSex: F\nAge: 56\nImageQuality: Good\nLVedv: 95.4\n")


# --- endoscopy, histology, dental --------------------------------------------------------------


def write_c3vd(root: Path) -> None:
    """C3VD registered sequences: N_color.png with NNNN_depth.tiff (padded differently) and pose.txt."""
    dest = root / "c3vd"
    for s, sequence in enumerate(("cecum_t1_a", "trans_t2_b")):
        folder = dest / sequence
        poses = []
        for i in range(3):
            rgb, depth = render_frame(200 + s * 10 + i, 160, 128)
            _png(folder / f"{i}_color.png", rgb)
            Image.fromarray(encode_depth(depth)).save(folder / f"{i:04d}_depth.tiff")
            _png(folder / f"{i:04d}_occlusion.png", np.zeros(depth.shape, np.uint8))
            poses.append(",".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0", "0", "0", f"{i}", "1"]))
        _text(folder / "pose.txt", "\n".join(poses) + "\n")


def write_simcol3d(root: Path) -> None:
    """SimCol3D: SyntheticColon_I/Frames_S1/FrameBuffer_NNNN.png + Depth_NNNN.png, cam.txt, poses, misc/."""
    dest = root / "simcol3d"
    scene = dest / "SyntheticColon_I"
    for i in range(3):
        rgb, depth = render_frame(300 + i, 160, 128)
        _png(scene / "Frames_S1" / f"FrameBuffer_{i:04d}.png", rgb)
        value = np.rint(np.clip(depth, 0.0, 200.0) / 200.0 * 65280).astype(np.uint16)  # [0, 20] cm -> 256 * 255
        _png(scene / "Frames_S1" / f"Depth_{i:04d}.png", value)
    _text(scene / "cam.txt", "227.60416 0.0 227.60416 0.0 237.5 237.5 0.0 0.0 1.0\n")
    _text(scene / "SavedPosition_S1.txt", "".join(f"0.0 0.0 {i * 0.1:.1f}\n" for i in range(3)))
    _text(scene / "SavedRotationQuaternion_S1.txt", "0.0 0.0 0.0 1.0\n" * 3)
    _text(dest / "misc" / "train_file.txt", "SyntheticColon_I/Frames_S1\n")


def write_scared(root: Path) -> None:
    """SCARED keyframes: dataset_N/keyframe_M/{Left,Right}_Image.png, {left,right}_depth_map.tiff, camera yml."""
    for n, m in ((1, 1), (2, 1)):
        folder = root / "scared" / f"dataset_{n}" / f"keyframe_{m}"
        rgb, depth = render_frame(400 + n, 160, 128)
        _png(folder / "Left_Image.png", rgb)
        _png(folder / "Right_Image.png", rgb[:, ::-1].copy())
        xyz = np.dstack([np.zeros_like(depth), np.zeros_like(depth), depth]).astype(np.float32)  # encoding unverified
        for side in ("left", "right"):
            tifffile.imwrite(folder / f"{side}_depth_map.tiff", xyz, photometric="minisblack", planarconfig="contig")
        _text(folder / "camera_parameters.yml", "%YAML:1.0\n---\nM1: !!opencv-matrix\n   rows: 3\n   cols: 3\n")


def write_skin_histology(root: Path) -> None:
    """Skin NMSC (UQ:8be4bd0): data/{1x,2x,5x,10x}/{Images,Masks}/<class>_<n>.{tif,png}, MarginData/."""
    dest = root / "skin-histology-segmentation"
    level2 = dest / "data" / "2x"
    for case, name in ((1, "BCC_1"), (2, "IEC_2")):  # the release names sections <cancer class>_<n>
        write_skin_tile(level2, case, (720, 640))
        (level2 / "Images" / f"skin_{case:03d}.tif").rename(level2 / "Images" / f"{name}.tif")
        (level2 / "Masks" / f"skin_{case:03d}.png").rename(level2 / "Masks" / f"{name}.png")
    for level, factor in (("1x", 2.0), ("5x", 0.4), ("10x", 0.2)):  # the same sections at other scales
        for src in sorted(level2.glob("*/*")):
            with Image.open(src) as im:
                size = (round(im.width * factor), round(im.height * factor))
                out = im.resize(size, Image.Resampling.NEAREST if src.suffix == ".png" else Image.Resampling.LANCZOS)
                target = dest / "data" / level / src.parent.name / src.name
                target.parent.mkdir(parents=True, exist_ok=True)
                out.save(target)
    _text(dest / "data" / "MarginData" / "y" / "BCC_1.csv", "x,y\n120,80\n130,96\n")


def write_bcss(root: Path) -> None:
    """BCSS: rgbs_colorNormalized/<TCGA ROI name>_MPP-0.2500.png + masks/<same name> + meta/gtruth_codes.tsv."""
    dest = root / "bcss"
    size = 1100  # >= 256 px at the recipe's 1 um/px from 0.25 um/px
    yy, xx = np.mgrid[0:size, 0:size]
    codes = np.full((size, size), 2, np.uint8)  # stroma
    codes[:, : size // 3] = 1  # tumor
    codes[(yy - 700) ** 2 + (xx - 800) ** 2 < 220**2] = 9  # fat
    codes[(yy - 250) ** 2 + (xx - 700) ** 2 < 120**2] = 3  # lymphocytic infiltrate
    codes[:, -40:] = 0  # outside the region of interest
    names = ["glass", "basaloid", "stroma", "immune", "fat"]
    kinds = np.choose(np.searchsorted([0, 1, 2, 3, 9], codes), [0, 1, 2, 3, 4]).astype(np.uint8)
    pixels = render_he(kinds, names, 0.25, 7)
    name = "TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png"
    _png(dest / "rgbs_colorNormalized" / name, pixels)
    _png(dest / "masks" / name, codes)
    codes_tsv = {0: "outside_roi", **builtin_manifests()["bcss"].label_map}  # the release's table, code by code
    _text(dest / "meta" / "gtruth_codes.tsv", "label\tGT_code\n" + "".join(f"{n}\t{c}\n" for c, n in codes_tsv.items()))


def write_tufts_dental(root: Path) -> None:
    """Tufts Dental Database: Radiographs/<n>.JPG + Segmentation/teeth_bbox.json (Labelbox rows), Expert/, Student/."""
    dest = root / "tufts-dental"
    rows = []
    for n, missing in ((1, {"1", "32"}), (2, set())):  # image 1 lacks two third molars
        h, w = 256, 512
        pixels = np.full((h, w), 40, np.uint8)
        objects = []
        for k in range(16):  # upper teeth 1..16 right to left of the patient, lower 17..32 back again
            x0 = 24 + k * 29
            for title, y0 in ((str(k + 1), 60), (str(32 - k), 140)):
                if title in missing:
                    continue
                pixels[y0 : y0 + 56, x0 + 2 : x0 + 26] = 200
                objects.append({"title": title, "value": title, "bounding box": [x0, y0, x0 + 28, y0 + 56]})
        path = dest / "Radiographs" / f"{n}.JPG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, format="JPEG", quality=92)
        rows.append({"External ID": f"{n}.JPG", "Label": {"objects": objects}})
    _text(dest / "Segmentation" / "teeth_bbox.json", json.dumps(rows, indent=1) + "\n")
    for folder in ("Expert", "Student", "Segmentation/maxillomandibular", "Segmentation/teeth_mask"):
        (dest / folder).mkdir(parents=True, exist_ok=True)


def write_dentex(root: Path) -> None:
    """DENTEX as unpacked from training_data.zip: training_data/<subset>/xrays/*.png + train_<subset>.json."""
    write_dental_sample(root / "dentex")
    (root / "dentex" / "README.txt").unlink()


FIXTURES: dict[str, Callable[[Path], None]] = {
    "nih-chestxray14": write_nih,
    "rsna-pneumonia": write_rsna_pneumonia,
    "mimic-cxr-jpg": write_mimic_cxr_jpg,
    "vindr-cxr": write_vindr_cxr,
    "rsna-bone-age": write_rsna_bone_age,
    "fracatlas": write_fracatlas,
    "pengwin-2024-task2": write_pengwin_task2,
    "siim-ct-medical-images": write_siim_ct,
    "hcc-tace-seg": write_hcc_tace_seg,
    "totalsegmentator": write_totalsegmentator,
    "amos-2022": write_amos,
    "btcv": write_btcv,
    "busi": write_busi,
    "camus": write_camus,
    "open-kidney-ultrasound": write_open_kidney,
    "c3vd": write_c3vd,
    "simcol3d": write_simcol3d,
    "scared": write_scared,
    "skin-histology-segmentation": write_skin_histology,
    "bcss": write_bcss,
    "dentex": write_dentex,
    "tufts-dental": write_tufts_dental,
}


def write_all(root: Path) -> Path:
    for write in FIXTURES.values():
        write(root)
    return root
