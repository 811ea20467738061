"""Worked example of a new task that is not in MedBLINK: which of two CT slices is more cranial?

Two axial slices of one CT volume are shown side by side as two images; the question asks which
one lies closer to the head. The label comes from the volume's geometry: every reader returns
volumes in LPS (z grows toward the head), so the slice with the larger z index is more cranial.
Slices closer than MIN_GAP_MM are never paired (too similar to call), and the image order is
given to the writer as bound to the choices (`Bound("images", ...)`): it orders the images to its
balanced letter plan, so "Image 1" and "Image 2" are correct equally often.

Run it with:  medblink-build recipe slice-order --recipes-dir docs/examples
"""

from __future__ import annotations

from medblink_build.encode import png_bytes
from medblink_build.errors import SkipItem
from medblink_build.model import Example, SourceItem
from medblink_build.questions import Bound, Question
from medblink_build.recipe import ItemContext, Recipe, TaskInfo
from medblink_build.subject import Accepts
from medblink_build.tasks.ct_windows import ct_window
from medblink_build.transforms import apply

TASK = "ct_slice_order"
MIN_GAP_MM = 30.0
WINDOW = "soft_tissue"
QUESTION = "These are two axial slices of the same CT scan. Which one is closer to the patient's head?"
CHOICES = ("Image 1", "Image 2")
#: The choices name the images: the writer orders them (and these label fields) to its letter plan.
BOUND = Bound("images", label_keys=("more_cranial_image",), per_slot_keys=("slice_indices", "z_mm"))


class SliceOrder(Recipe):
    name = "slice-order"
    version = "1.1.0"
    description = (
        f"Two axial slices at least {MIN_GAP_MM:g} mm apart are drawn with the item's seeded generator from "
        "the central 80 % of the scan; the more cranial one is the one with the larger LPS z coordinate. "
        "Their order on screen follows the writer's balanced letter plan."
    )
    tasks = (TaskInfo(TASK, "CT", "abdomen", "Which of two axial CT slices is more cranial.", QUESTION),)
    sample_sources = ("medblink-sample-ct-seg",)
    accepts = Accepts({"ct"}, human=True)  # "closer to the head" assumes a human body's axis

    def build(self, item: SourceItem, ctx: ItemContext) -> Example:
        volume = ctx.read_volume(0)  # the CT only; its masks are not needed here
        depth, step = volume.shape[0], volume.spacing[0]
        lo, hi = int(depth * 0.1), int(depth * 0.9)
        gap = int(-(-MIN_GAP_MM // step))  # slices needed for MIN_GAP_MM, rounded up
        if hi - lo <= gap:
            raise SkipItem("scan_too_short", f"{depth} slices of {step:g} mm cannot give {MIN_GAP_MM:g} mm apart")
        rng = ctx.rng(TASK)
        lower = int(rng.integers(lo, hi - gap))
        upper = int(rng.integers(lower + gap, hi))
        order = (upper, lower)  # slot order; the writer puts the images in its planned order
        window = ct_window(WINDOW)
        images = [png_bytes(apply(window, volume.data[k])) for k in order]
        return Example(
            task=TASK,
            key=item.key,
            images=images,
            question=Question(QUESTION, CHOICES, 0, shuffle=False, bound=BOUND),
            label={
                "slice_indices": list(order),
                "more_cranial_image": 1,  # slot 1; the writer renames it with the images' final order
                "z_mm": [float(volume.index_to_lps([0, 0, k])[2]) for k in order],
            },
            inputs=list(ctx.inputs),
            transforms=[window.to_json()],
            derivation="LPS z of each slice from the volume geometry; the larger z is closer to the head.",
            details={"volume": {"shape": list(volume.shape), "spacing_mm": list(volume.spacing)}},
            modality="CT",
            anatomy="abdomen",
        )
