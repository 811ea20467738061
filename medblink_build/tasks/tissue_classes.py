"""How questions name tissue classes, and which annotated classes are not structures to ask about.

Class names come from a source's annotations (palette codes, BCSS codes, QuPath class names);
matching is case-insensitive. A class that is not asked about still bounds where markers may go.
"""

from __future__ import annotations

#: Class names (lower case) that are not tissue structures: never asked about, but still
#: boundaries that markers keep their distance from.
NOT_ASKED = frozenset(
    {
        "bkg",
        "background",
        "outside_roi",
        "exclude",
        "undetermined",
        "other",
        "ignore",
        "ignore*",
        "region*",
        "unknown",
        "unlabelled",
        "unlabeled",
    }
)

#: How the question names a class (keys: class names in lower case). Others are named by their
#: own name with underscores as spaces.
STRUCTURE_NAMES: dict[str, str] = {
    # skin cancer set (Thomas et al. 2021) palette codes
    "epi": "the epidermis",
    "gld": "a gland",
    "inf": "an inflammatory infiltrate",
    "ret": "the reticular dermis",
    "fol": "a hair follicle",
    "pap": "the papillary dermis",
    "hyp": "the hypodermis (subcutaneous fat)",
    "ker": "keratin",
    "bcc": "basal cell carcinoma",
    "scc": "squamous cell carcinoma",
    "iec": "intraepidermal carcinoma",
    # BCSS codes (meta/gtruth_codes.tsv)
    "tumor": "tumor tissue",
    "stroma": "stroma",
    "lymphocytic_infiltrate": "a lymphocytic infiltrate",
    "necrosis_or_debris": "necrosis or debris",
    "glandular_secretions": "glandular secretions",
    "blood": "blood",
    "metaplasia_nos": "metaplasia",
    "fat": "fat (adipose tissue)",
    "plasma_cells": "plasma cells",
    "other_immune_infiltrate": "an immune infiltrate other than lymphocytes",
    "mucoid_material": "mucoid material",
    "normal_acinus_or_duct": "a normal acinus or duct",
    "lymphatics": "a lymphatic vessel",
    "nerve": "a nerve",
    "skin_adnexa": "skin adnexa",
    "blood_vessel": "a blood vessel",
    "angioinvasion": "angioinvasion",
    "dcis": "ductal carcinoma in situ",
    # common QuPath class names
    "tumour": "tumor tissue",
    "immune cells": "immune cells",
    "necrosis": "necrosis",
    "epidermis": "the epidermis",
    "dermis": "the dermis",
}


def structure_text(name: str) -> str:
    return STRUCTURE_NAMES.get(name.strip().lower(), name.strip().replace("_", " ").lower())


def askable(name: str) -> bool:
    return name.strip().lower() not in NOT_ASKED
