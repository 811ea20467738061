"""The release as an lmms-eval task folder (`export --format lmms-eval`), laid out like its BLINK task.

lmms-eval's BLINK task (`lmms_eval/tasks/blink/`) is a `_default_template_yaml` shared by one YAML
per subtask (`include:` it) and a group YAML listing the subtasks, with the prompt, images and
answer parsing in `utils.py`. This writes the same shape:

```
DIR/
  _default_template_yaml      output_type generate_until; doc_to_visual/_text/_messages, process_results
                              and the accuracy aggregation from utils.py; BLINK's pre-prompt
  medblink.yaml               group `medblink`: every config's task; its medblink_acc is the mean
                              over configs (lmms-eval's default for a group, as for BLINK)
  medblink_<config>.yaml      task `medblink_<config>`: dataset_path parquet, data_files = this
                              export's parquet files (absolute paths), split test
  utils.py                    `lmms_eval_utils.py` of this package, standalone
  data/                       the release in the `blink` export's columns (idx, question, sub_task,
                              image_1..image_4, choices, answer "(A)", prompt): BLINK's own columns
  export.json                 what was exported from which release
```

`datasets.load_dataset("parquet", data_files=...)` reads local files, so the task runs offline.
The paths are absolute: lmms-eval before 5bd8fbc9 (July 2026) leaves relative `data_files` to
`datasets`, which reads them from the working directory, and later versions resolve them against the
YAML's folder only when they name an existing file (not a shard pattern). Absolute paths work with
both; run the export again after moving the folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..output.shards import SPLIT
from .export_base import ExportSummary
from .exports import export
from .harness_export import exportable_manifest, file_record, staged_export, write_marker

GROUP = "medblink"
METRIC = "medblink_acc"
DATA = "blink"

#: The shared task settings, BLINK's `_default_template_yaml` with this task's names. Written as
#: text: `!function` tags are lmms-eval's own YAML extension.
TEMPLATE = f"""\
test_split: {SPLIT}
output_type: generate_until
doc_to_visual: !function utils.medblink_doc_to_visual
doc_to_text: !function utils.medblink_doc_to_text
doc_to_messages: !function utils.medblink_doc_to_messages
doc_to_target: "answer"
process_results: !function utils.medblink_process_results
metric_list:
  - metric: {METRIC}
    aggregation: !function utils.medblink_aggregate_results
    higher_is_better: true
lmms_eval_specific_kwargs:
  default:
    pre_prompt: "Note: You only need to respond with {{}} without providing any additional information.\\n"
    post_prompt: ""
generation_kwargs:
  max_new_tokens: 1024
"""


def task_name(config: str) -> str:
    return f"{GROUP}_{config}"


def export_lmms_eval(folder: Path, out: Path) -> ExportSummary:
    folder = Path(folder)
    manifest = exportable_manifest(folder, out)
    final = Path(os.path.abspath(out))
    summary = ExportSummary(Path(out), "lmms-eval")
    with staged_export(out) as staging:
        data = export(folder, "blink", staging / DATA)  # the BLINK columns lmms-eval's BLINK task reads
        summary.counts.update(data.counts)
        files: dict[str, Any] = {}
        for config in data.counts:
            pattern = final / DATA / "data" / config / f"{SPLIT}-*.parquet"
            task = {
                "task": task_name(config),
                "dataset_path": "parquet",
                "dataset_kwargs": {"data_files": {SPLIT: str(pattern)}},
                "include": "_default_template_yaml",
            }
            (staging / f"{task_name(config)}.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
            shards = sorted((staging / DATA / "data" / config).glob(f"{SPLIT}-*.parquet"))
            files[config] = {"rows": data.counts[config], "files": [file_record(staging, p) for p in shards]}
        group = {
            "group": GROUP,
            "task": [task_name(c) for c in data.counts],
            "aggregate_metric_list": [{"metric": METRIC}],
        }
        (staging / f"{GROUP}.yaml").write_text(yaml.safe_dump(group, sort_keys=False), encoding="utf-8")
        (staging / "_default_template_yaml").write_text(TEMPLATE, encoding="utf-8")
        utils = Path(__file__).with_name("lmms_eval_utils.py")
        (staging / "utils.py").write_text(utils.read_text(encoding="utf-8"), encoding="utf-8")
        (staging / "README.md").write_text(_readme(final, data.counts), encoding="utf-8")
        write_marker(staging, "lmms-eval", folder, manifest, files)
    return summary


def _readme(final: Path, counts: dict[str, int]) -> str:
    tasks = ", ".join(f"`{task_name(c)}` ({n})" for c, n in counts.items())
    return "\n".join(
        [
            "# MedBLINK — lmms-eval task folder",
            "",
            f"Group `{GROUP}`; tasks {tasks}. The data under `{DATA}/` is the release in BLINK's columns.",
            "",
            "```bash",
            f"lmms-eval --model MODEL --tasks {GROUP} --include_path {final} --log_samples --output_path results/",
            "```",
            "",
            f"The task YAMLs name the parquet files under {final}; export again after moving this folder.",
            "",
        ]
    )
