"""The `medblink-build` command line. Thin commands: parse, call the library, report.

Every failure the user can cause exits non-zero with one line naming the file and the problem.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from .errors import MedblinkError
from .version import __version__

_RECIPES_DIR = click.option(
    "--recipes-dir",
    "recipes_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Also load recipes from the .py files in this folder (repeatable).",
)


def _execution(command: Any) -> Any:
    """--workers, --executor and --scheduler: where and how wide the items are built."""
    command = click.option(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="Dask scheduler of an existing cluster (with --executor dask); default: a LocalCluster.",
    )(command)
    command = click.option(
        "--executor",
        type=click.Choice(["process", "serial", "dask"]),
        default="process",
        show_default=True,
        help="Where items are built: a local process pool, this process, or a Dask cluster.",
    )(command)
    return click.option(
        "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
    )(command)


def _fail(exc: MedblinkError) -> click.ClickException:
    failure = click.ClickException(" ".join(str(exc).split()))
    failure.exit_code = getattr(exc, "exit_code", failure.exit_code)  # 128 + signal for an interrupted build
    return failure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medblink-build")
def main() -> None:
    """Build medical perception benchmarks (MedBLINK) from raw imaging sources."""


@main.command("list")
@_RECIPES_DIR
def list_recipes(recipes_dirs: tuple[Path, ...]) -> None:
    """List the recipes and the task configs each produces."""
    from .build.worker import recipe_instance
    from .registry import discover

    try:
        discovery = discover(recipes_dirs)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    for name, ref in sorted(discovery.recipes.items()):
        recipe = recipe_instance(ref)
        origin = "" if ref.origin == "builtin" else f"  [{ref.origin}]"
        click.echo(f"{name} {recipe.version}{origin}")
        for task in recipe.tasks:
            click.echo(f"  {task.task_id:32s} {task.modality}, {task.anatomy}")
    for problem in discovery.problems:
        click.echo(f"warning: {problem}", err=True)


@main.command("recipe")
@click.argument("name")
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="[ID=]PATH",
    help="A local copy of a source (repeatable). ID=PATH binds it to a built-in manifest. "
    "Without --source the recipe's built-in synthetic sample is used.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("medblink-out"),
    show_default=True,
    help="Output folder; replaced atomically (only if empty or a previous medblink-build output).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Build seed.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N examples per task config.")
@_execution
@click.option("--strict", is_flag=True, help="Fail on the first unreadable file instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (for scripts).")
@click.option("--no-resume", is_flag=True, help="Rebuild every item instead of reusing results of an interrupted run.")
@click.option("--allow-empty", is_flag=True, help="Write the output even if no row was built (else an error).")
@click.option(
    "--item-memory",
    default=None,
    metavar="SIZE",
    help="Memory one item's decode may take, checked against header sizes before decoding [default: 2G].",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A recipe parameter (repeatable), e.g. --param mpp=0.5 for slides that state no resolution.",
)
@_RECIPES_DIR
def recipe_command(
    name: str,
    sources: tuple[str, ...],
    out: Path,
    seed: int,
    limit: int | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    strict: bool,
    quiet: bool,
    no_resume: bool,
    allow_empty: bool,
    item_memory: str | None,
    params: tuple[str, ...],
    recipes_dirs: tuple[Path, ...],
) -> None:
    """Run recipe NAME over local sources (or its built-in sample) into an output folder.

    Finished items are kept in a work folder beside the output (.OUT.work); rerunning the same
    command after an interruption redoes only what is missing.
    """
    from .build.pipeline import BuildFailed, BuildOptions, run_recipe
    from .readers.limits import parse_size
    from .registry import find_recipe, parse_params
    from .sources.resolve import resolve_source

    try:
        ref = find_recipe(name, recipes_dirs)
        typed = parse_params([ref.load()], _parse_params(params))
        bound = [resolve_source(spec) for spec in sources]
        options = BuildOptions(
            seed=seed,
            limit=limit,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            strict=strict,
            resume=not no_resume,
            allow_empty=allow_empty,
            item_memory=parse_size(item_memory) if item_memory else None,
            params=typed,
        )
        summary = run_recipe(ref, bound, out, options, progress=None if quiet else _progress_bar)
    except BuildFailed as exc:
        if exc.detail:
            click.echo(exc.detail, err=True)
        raise _fail(exc) from exc
    except MedblinkError as exc:
        raise _fail(exc) from exc
    if quiet:
        return
    written = ", ".join(f"{task} {n}" for task, n in summary.counts.items())
    skipped = sum(summary.skipped.values())
    kind = "sample build " if summary.sample else ""
    click.echo(f"wrote {kind}{summary.out}: {written}")
    if skipped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in summary.skipped.items())
        click.echo(f"skipped {skipped} item(s): {reasons} (details in manifest.json)")
    click.echo(_files_line(summary.accounting))
    _next_steps(summary.out, summary.counts)


def _files_line(totals: dict[str, int]) -> str:
    """The accounting summary: every file under the sources is in a row, skipped or filtered."""
    return (
        f"files: {totals.get('files', 0)} = {totals.get('in_rows', 0)} in rows / {totals.get('skipped', 0)} skipped"
        f" / {totals.get('filtered', 0)} filtered (per source and recipe in manifest.json 'accounting')"
    )


@main.command("build")
@click.option(
    "--sources-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding one sub-folder per source id (e.g. ROOT/nih-chestxray14). "
    "Without it every recipe runs on its built-in sample (a sample release).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("medblink-release"), show_default=True)
@click.option(
    "--release",
    "release_spec",
    default="medblink-1.0",
    show_default=True,
    help="A built-in release definition or a release TOML file.",
)
@click.option(
    "--version", "version", default=None, help="Semantic version of this release (default: the definition's)."
)
@click.option(
    "--tasks",
    "task_specs",
    multiple=True,
    metavar="NAME[,NAME...]",
    help="Build only these task configs or recipes of the release (repeatable or comma-separated).",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Build seed [default: the release's].")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most N examples per config (and the release count)."
)
@_execution
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A recipe parameter (repeatable), checked against the parameters the release's recipes declare.",
)
@click.option("--strict", is_flag=True, help="Fail on the first unreadable file instead of skipping it.")
@click.option("--allow-changed", is_flag=True, help="Build even if a source differs from the files its manifest pins.")
@click.option("--no-resume", is_flag=True, help="Rebuild every item instead of reusing results of an interrupted run.")
@click.option("--allow-empty", is_flag=True, help="Write the release even if no row was built (else an error).")
@click.option("--item-memory", default=None, metavar="SIZE", help="Memory one item's decode may take [default: 2G].")
@click.option("--quiet", "-q", is_flag=True)
@_RECIPES_DIR
def build_command(
    sources_root: Path | None,
    out: Path,
    release_spec: str,
    version: str | None,
    task_specs: tuple[str, ...],
    seed: int | None,
    limit: int | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    params: tuple[str, ...],
    strict: bool,
    allow_changed: bool,
    no_resume: bool,
    allow_empty: bool,
    item_memory: str | None,
    quiet: bool,
    recipes_dirs: tuple[Path, ...],
) -> None:
    """Build every task of a release into one Hub-ready folder."""
    from .build.pipeline import BuildFailed, BuildOptions, run_build
    from .readers.limits import parse_size
    from .registry import parse_params
    from .release.definition import load_release, narrow_release
    from .release.plan import plan_release

    try:
        tasks = [name.strip() for spec in task_specs for name in spec.split(",") if name.strip()]
        definition = narrow_release(load_release(release_spec), tasks, limit, seed)
        plan = plan_release(definition, sources_root, version, recipes_dirs, allow_changed)
        typed = parse_params([run.ref.load() for run in plan.runs], _parse_params(params))
        options = BuildOptions(
            seed=definition.seed,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            strict=strict,
            resume=not no_resume,
            params=typed,
            allow_empty=allow_empty,
            item_memory=parse_size(item_memory) if item_memory else None,
        )
        summary = run_build(plan.runs, out, options, progress=None if quiet else _progress_bar, release=plan.info)
    except BuildFailed as exc:
        if exc.detail:
            click.echo(exc.detail, err=True)
        raise _fail(exc) from exc
    except MedblinkError as exc:
        raise _fail(exc) from exc
    if quiet:
        return
    kind = "sample release" if summary.sample else "release"
    click.echo(f"wrote {kind} {plan.info['name']} {plan.info['version']} to {summary.out}")
    for task, expected in plan.info["expected_counts"].items():
        got = summary.counts.get(task, 0)
        note = f"  MISSING: {plan.missing[task]}" if task in plan.missing else ""
        click.echo(f"  {task:32s} {got:5d} / {expected}{note}")
    if summary.skipped:
        click.echo("skipped: " + ", ".join(f"{r} {n}" for r, n in summary.skipped.items()))
    click.echo(_files_line(summary.accounting))
    _next_steps(summary.out, summary.counts)


@main.command("verify")
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--against",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A published manifest.json (or output folder) to compare this build with, example by example.",
)
def verify_command(out: Path, against: Path | None) -> None:
    """Check OUT against its own manifest, or against a published release."""
    from .release.verify import compare_manifests, verify_folder

    try:
        report = compare_manifests(out, against) if against else verify_folder(out)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    diff = report.first_difference
    if diff is not None:
        click.echo(f"first differing example: {diff.config}/{diff.example_id}: {diff.problem}")
        click.echo(
            "local provenance: " + (json.dumps(diff.local_provenance, sort_keys=True) if diff.local_provenance else "-")
        )
        if against:
            click.echo(
                "published provenance: "
                + (json.dumps(diff.other_provenance, sort_keys=True) if diff.other_provenance else "-")
            )
    if not report.ok:
        raise click.ClickException(
            f"{out}: verification failed ({len(report.problems)} problem(s)"
            + (", examples differ" if diff else "")
            + ")"
        )
    click.echo(f"{out}: OK ({report.checked_files} parquet files, {report.checked_examples} examples)")


@main.command("explain")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("row_id")
@click.option("--source", "source", default=None, help="The local copy the row was built from: map pseudonyms back.")
@click.option(
    "--key",
    "key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The pseudonym key file the build used (default: $MEDBLINK_BUILD_PSEUDONYM_KEY or the configured one).",
)
def explain_command(out: Path, row_id: str, source: str | None, key: Path | None) -> None:
    """Print where row ROW_ID of OUT came from: files, license, transforms, label derivation."""
    import os

    from .pseudonym import KEY_ENV
    from .release.explain import explain

    before = os.environ.get(KEY_ENV)
    if key is not None:
        os.environ[KEY_ENV] = str(key)
    try:
        click.echo(explain(out, row_id, source))
    except MedblinkError as exc:
        raise _fail(exc) from exc
    finally:
        if before is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = before


def _next_steps(out: Path, counts: dict[str, int]) -> None:
    """The build's last line: where the output is, and the commands that load and preview it."""
    config = next((c for c, n in counts.items() if n), None)
    if config is None:
        click.echo(f"output in {out} (no rows written)")
        return
    shown = str(out)
    click.echo(
        f'output in {shown}; load: python -c "import medblink_build; print(medblink_build.load({shown!r}, '
        f'{config!r}))"; preview: medblink-build preview {shlex.quote(shown)}'
    )


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--param")
        params[key.strip()] = text.strip()
    return params


def _progress_bar(total: int | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="item", file=sys.stderr, disable=None, dynamic_ncols=True)


@main.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "recipes_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("recipes"),
    show_default=True,
    help="Folder for the recipe module.",
)
@click.option(
    "--manifests-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data_manifests"),
    show_default=True,
    help="Folder for the source manifest stub.",
)
@click.option(
    "--tests-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tests"),
    show_default=True,
    help="Folder for the test.",
)
def new_command(name: str, recipes_dir: Path, manifests_dir: Path, tests_dir: Path) -> None:
    """Scaffold a new recipe NAME: a working recipe module, a manifest stub and a test."""
    from .scaffold import write_scaffold

    try:
        written = write_scaffold(name, recipes_dir, manifests_dir, tests_dir)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(f"wrote {written.recipe}\nwrote {written.manifest}\nwrote {written.test}")
    click.echo(f"try it:  medblink-build recipe {name} --recipes-dir {recipes_dir} --out {name}-out")


@main.group("sources", invoke_without_command=True)
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="ID=PATH",
    help="Hash a local copy against the files its manifest pins; report missing, changed, extra.",
)
@click.pass_context
def sources_group(ctx: click.Context, checks: tuple[str, ...]) -> None:
    """List the public sources medblink-build knows (data_manifests/), or check local copies."""
    if ctx.invoked_subcommand is not None:
        return
    from .manifests import builtin_manifests

    try:
        if checks:
            _check_sources(checks)
            return
        manifests = builtin_manifests()
    except MedblinkError as exc:
        raise _fail(exc) from exc
    for m in manifests.values():
        click.echo(f"{m.id:28s} {m.license:18s} {m.access:13s} {m.name}")


def _check_sources(specs: tuple[str, ...]) -> None:
    from .sources.check import check_source
    from .sources.resolve import resolve_source

    failed, unpinned = [], []
    for spec in specs:
        source = resolve_source(spec)
        report = check_source(source)
        if report.pinned == 0:
            click.echo(f"{source.id}: {source.root}: the manifest pins no files (use 'sources pin' to record them)")
            unpinned.append(source.id)
            continue
        status = "OK" if report.ok else "DIFFERS"
        click.echo(
            f"{source.id}: {status}: {report.pinned} pinned, {len(report.missing)} missing, "
            f"{len(report.changed)} changed, {len(report.extra)} extra"
        )
        for label, paths in (("missing", report.missing), ("changed", report.changed), ("extra", report.extra)):
            for rel in paths[:20]:
                click.echo(f"  {label}: {rel}")
            if len(paths) > 20:
                click.echo(f"  ... {len(paths) - 20} more {label}")
        if not report.ok:
            failed.append(source.id)
    if failed:
        raise click.ClickException(f"sources differ from their manifests: {', '.join(failed)}")
    if unpinned:
        raise click.ClickException(
            f"nothing checked: the manifest of {', '.join(unpinned)} pins no files; "
            "record them first with 'medblink-build sources pin ID=PATH'"
        )


@sources_group.command("pin")
@click.argument("spec", metavar="ID=PATH")
def sources_pin(spec: str) -> None:
    """Print a [[files]] block pinning every file of a local copy (paste it into the manifest)."""
    from .sources.check import pin_source
    from .sources.resolve import resolve_source

    try:
        click.echo(pin_source(resolve_source(spec)))
    except MedblinkError as exc:
        raise _fail(exc) from exc


@sources_group.command("show")
@click.argument("source_id")
def sources_show(source_id: str) -> None:
    """Show one source: license, citation, how to obtain it and its expected layout."""
    from .manifests import get_manifest

    try:
        m = get_manifest(source_id)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(f"{m.name} ({m.id})")
    click.echo(f"homepage: {m.homepage or '-'}")
    click.echo(f"license:  {m.license}" + (f" - {m.license_note}" if m.license_note else ""))
    click.echo(f"access:   {m.access}")
    click.echo(f"tasks:    {', '.join(m.tasks) or '-'}")
    click.echo(f"\nhow to obtain:\n{m.how_to_obtain}")
    if m.layout:
        click.echo(f"\nlayout:\n{m.layout}")
    if m.verified:
        click.echo("\nverified facts:\n" + "\n".join(f"- {v.fact} ({v.where})" for v in m.verified))
    if m.unverified:
        click.echo("\nunverified facts:\n" + "\n".join(f"- {u}" for u in m.unverified))
    if m.citation:
        click.echo(f"\ncitation:\n{m.citation}")


@main.group("samples")
def samples_group() -> None:
    """The built-in synthetic sample sources."""


@samples_group.command("write")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--source", "source_ids", multiple=True, help="Only this sample source id (repeatable).")
def samples_write(dest: Path, source_ids: tuple[str, ...]) -> None:
    """Write every built-in sample source into DEST/<source id>, in its real file formats.

    Then `build --release medblink-sample-1.0 --sources-root DEST` builds the sample release from disk.
    """
    from .sources.samples import write_samples

    try:
        written = write_samples(dest, list(source_ids) or None)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    for source in written:
        files = sum(1 for p in source.root.rglob("*") if p.is_file())
        click.echo(f"wrote {source.id}: {files} file(s) in {source.root}")


@main.command("align")
@click.argument("published", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--sources-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder holding one sub-folder per source id, as for build.",
)
@click.option(
    "--release",
    "release_spec",
    default="medblink-1.0",
    show_default=True,
    help="The release definition whose recipes made PUBLISHED (a built-in name or a TOML file).",
)
@click.option(
    "--out", "pins_out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PINS.toml to write."
)
@click.option(
    "--report",
    "report_out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="AUDIT.json to write.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the candidate fingerprints are kept between runs (default: .medblink-align-cache beside --out).",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
def align_command(
    published: Path,
    sources_root: Path,
    release_spec: str,
    pins_out: Path,
    report_out: Path,
    cache_dir: Path | None,
    workers: int,
) -> None:
    """Find the source item and parameters of every row of a published copy (PUBLISHED: a folder
    or parquet file in the `export --format medblink` shape), audit its labels, and write a
    pinned release definition that regenerates it."""
    from .build.pipeline import BuildFailed
    from .release.align import align, summary_table, write_report
    from .release.definition import load_release
    from .release.pins import write_pins

    try:
        definition = load_release(release_spec)
        cache = cache_dir or pins_out.resolve().parent / ".medblink-align-cache"
        result = align(published, definition, sources_root, cache, workers, report_out.name)
        write_report(report_out, result)
        if result.summary["matched"]:
            write_pins(pins_out, result.pins_text)
    except BuildFailed as exc:
        if exc.detail:
            click.echo(exc.detail, err=True)
        raise _fail(exc) from exc
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(summary_table(result.summary))
    if not result.summary["matched"]:
        raise click.ClickException(f"no published row matched a source item: wrote {report_out}, no {pins_out}")
    click.echo(f"wrote {pins_out} and {report_out}")


@main.command("notes")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Markdown to this file instead of printing it.",
)
def notes_command(old: Path, new: Path, out: Path | None) -> None:
    """Release notes (Markdown) for the change from build OLD to build NEW (folders or manifest.json)."""
    from .release.notes import release_notes, write_release_notes

    try:
        if out is None:
            click.echo(release_notes(old, new), nl=False)
            return
        write_release_notes(old, new, out)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(f"wrote {out}")


@main.command("export")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["medblink", "blink", "vlmevalkit", "lmms-eval"]),
    required=True,
    help="medblink: the published shape (one config, split val): task, question_id, question, answer text, "
    "image. blink: idx, question, sub_task, image_1..image_4, choices, answer '(A)', prompt. "
    "vlmevalkit: one multiple-choice TSV (index, image base64, question, A.., answer, category). "
    "lmms-eval: a task folder (YAML per config, group, utils.py) over BLINK-style parquet.",
)
@click.option(
    "--to",
    "dest",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the Hub-ready export (outside OUT; replaced only if empty or a previous export).",
)
def export_command(out: Path, fmt: str, dest: Path) -> None:
    """Export release OUT in another harness's layout, as a Hub-ready dataset folder."""
    from .release.export_formats import export

    try:
        summary = export(out, fmt, dest)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    written = ", ".join(f"{config} {n}" for config, n in summary.counts.items())
    click.echo(f"wrote {fmt} export of {out} to {summary.out}: {written}")


@main.command("score")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--compare",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A second model's predictions: paired counts and an exact McNemar test.",
)
@click.option(
    "--parser",
    type=click.Choice(["vlmevalkit", "lmms-eval"]),
    default="vlmevalkit",
    show_default=True,
    help="How a reply becomes a letter: VLMEvalKit's can_infer (letter, '(B)', 'B.', answer text, 'answer is B') "
    "or lmms-eval's BLINK rule (the reply's first letter).",
)
def score_command(out: Path, predictions: Path, as_json: bool, compare: Path | None, parser: str) -> None:
    """Score PREDICTIONS (JSONL/JSON/CSV/TSV with `id` and `prediction`) on release OUT."""
    from .release.score import render_text, score

    try:
        report = score(out, predictions, parser=parser, compare=compare)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(json.dumps(report, indent=1, ensure_ascii=False) if as_json else render_text(report), nl=as_json)


@main.command("preview")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--to",
    "dest",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the gallery [default: OUT-preview, beside OUT; never inside it].",
)
def preview_command(out: Path, dest: Path | None) -> None:
    """Write a static HTML gallery of release OUT, with a PNG contact sheet per task config."""
    from .release.preview import write_preview

    if dest is None:
        resolved = out.resolve()
        dest = resolved.parent / f"{resolved.name}-preview"
    try:
        index = write_preview(out, dest)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    click.echo(f"wrote {index}")


@main.command("publish")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, metavar="ORG/NAME", help="The Hub dataset repository (created if missing).")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option(
    "--i-hold-the-rights",
    is_flag=True,
    help="Publish configs whose sources are non-commercial or not redistributable: you state you hold the rights.",
)
@click.option(
    "--token-env",
    metavar="NAME",
    default=None,
    help="Environment variable holding the Hub token [default: huggingface_hub's own lookup: HF_TOKEN, "
    "then the saved login].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run the license, integrity and card checks and list what would be uploaded; no network.",
)
def publish_command(
    out: Path, repo_id: str, private: bool, i_hold_the_rights: bool, token_env: str | None, dry_run: bool
) -> None:
    """Upload release OUT as it stands to a Hugging Face dataset repository (re-run to resume)."""
    import os

    from .release.publish import plan_publish, publish

    if dry_run:
        try:
            plan = plan_publish(out, repo_id, i_hold_the_rights=i_hold_the_rights)
        except MedblinkError as exc:
            raise _fail(exc) from exc
        for warning in plan.warnings:
            click.echo(f"warning: {warning}")
        for config, label in plan.rights_asserted.items():
            click.echo(f"would publish {config} ({label}): you stated you hold the rights")
        for rel, size in plan.files:
            click.echo(f"  {size:>12,d}  {rel}")
        click.echo(
            f"dry run: would upload {len(plan.files)} files ({plan.total_bytes:,d} bytes) from {out} "
            f"to dataset {repo_id}; checks passed, nothing sent"
        )
        return

    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise click.BadParameter(f"environment variable {token_env} is not set or empty", param_hint="--token-env")
    try:
        result = publish(out, repo_id, token=token, private=private, i_hold_the_rights=i_hold_the_rights)
    except MedblinkError as exc:
        raise _fail(exc) from exc
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
    for config, label in result.rights_asserted.items():
        click.echo(f"published {config} ({label}): you stated you hold the rights")
    click.echo(f"published {out} to {result.repo_url} ({len(result.files)} files, commit {result.commit_oid[:12]})")


if __name__ == "__main__":  # pragma: no cover
    main()
