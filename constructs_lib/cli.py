"""The paperclip-gitops command line."""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import click

from constructs_lib.errors import Problem, UserError, collect, collect_each
from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION

EXIT_USER_ERROR = 2
EXIT_STALE = 1

_version_option = click.option(
    "--kubernetes-version",
    "-k",
    default=lambda: os.environ.get(
        "PAPERCLIP_GITOPS_KUBERNETES_VERSION", DEFAULT_KUBERNETES_VERSION
    ),
    show_default=DEFAULT_KUBERNETES_VERSION,
    metavar="X.Y",
    help="Kubernetes version whose OpenAPI schema every object must satisfy "
    "(env PAPERCLIP_GITOPS_KUBERNETES_VERSION).",
)
_strict_option = click.option(
    "--strict",
    is_flag=True,
    default=lambda: os.environ.get("PAPERCLIP_GITOPS_STRICT", "") not in ("", "0", "false"),
    help="Treat every warning as an error (exit 2, nothing written): for CI "
    "(env PAPERCLIP_GITOPS_STRICT=1).",
)
_apps_dir_option = click.option(
    "--apps-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("apps"),
    show_default=True,
    help="Directory holding the apps (Python modules and Instance YAML files).",
)


def _output_option(name: str, help: str) -> Callable[[Any], Any]:
    """The option naming the output root (default dist/, env PAPERCLIP_GITOPS_OUT)."""
    return click.option(
        name,
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: Path(os.environ.get("PAPERCLIP_GITOPS_OUT", "dist")),
        show_default="dist",
        help=help,
    )


def _secho(message: str, **styles: Any) -> None:
    """click.secho without colours when NO_COLOR is set to anything (https://no-color.org)."""
    click.secho(message, color=False if os.environ.get("NO_COLOR") else None, **styles)


@contextmanager
def _reported(*, writes: bool = False) -> Iterator[None]:
    """A :class:`UserError` of the block exits 2 listing every problem; ``writes``: the
    command writes files, and says it wrote none."""
    try:
        yield
    except UserError as error:
        count = len(error.problems)
        _secho(f"error: {count} problem{'s' if count != 1 else ''} found", fg="red", err=True)
        for problem in error.problems:
            click.echo(f"  - {problem.render()}", err=True)
        if writes:
            click.echo("Nothing was written.", err=True)
        sys.exit(EXIT_USER_ERROR)


def _warn(warnings: Sequence[Problem], strict: bool = False) -> None:
    """Print the warnings; with ``strict`` they are errors (UserError)."""
    if strict and warnings:
        raise UserError(
            replace(w, message=f"{w.message} (a warning; an error with --strict)") for w in warnings
        )
    for problem in warnings:
        _secho(f"warning: {problem.render()}", fg="yellow", err=True)


def _app_paths(apps: Sequence[str], apps_dir: Path) -> list[Path]:
    from constructs_lib.spec.loader import discover, resolve

    if apps:
        paths, problems = collect_each(apps, partial(resolve, apps_dir=apps_dir))
        if problems:  # every argument's problem at once
            raise UserError(problems)
        return paths
    paths = discover(apps_dir)
    if not paths:
        raise UserError.single(
            f"{apps_dir}/ holds no apps.", fix="add a Python module or an Instance YAML file."
        )
    return paths


def _progress(total: int) -> Callable[[], None]:
    """A progress bar of ``total`` steps on stderr, and the function that advances it."""
    if total < 2:
        return lambda: None
    bar = click.progressbar(length=total, label="synthesizing", file=sys.stderr)
    bar.__enter__()

    def tick() -> None:
        bar.update(1)
        if bar.pos == total:
            bar.__exit__(None, None, None)

    return tick


GITOPS_OUTPUT = "gitops"
"""The --only name of dist/gitops/ (the Argo CD and Flux entry objects)."""


def _writers(
    only: str | None, previous_root: Path, apps: Sequence[str], apps_dir: Path
) -> tuple[Any, bool]:
    """The writers --only picks (default: all) and whether dist/gitops/ is written. The
    Kustomize writer reads back the image tags Flux image automation committed under
    ``previous_root`` (the output being replaced or compared). ``--only`` naming gitops is
    refused when dist/gitops/ cannot be written: with named ``apps`` (it lists every app),
    or without ``apps_dir``'s GitOps config; the app directories would lose their files for
    nothing."""
    from constructs_lib.render.kustomize import KustomizeWriter
    from constructs_lib.render.writers import WRITERS
    from constructs_lib.spec.gitops import CONFIG_FILE

    every = tuple(
        KustomizeWriter(previous_root) if isinstance(w, KustomizeWriter) else w for w in WRITERS
    )
    if only is None:
        return every, True
    refuse = partial(UserError.single, path="--only")
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = [*(w.name for w in every), GITOPS_OUTPUT]
    listed = f"a comma-separated list of {', '.join(known)}"
    if not names:
        raise refuse(f"names no output ({only!r}).", fix=f"use {listed}, or leave it out.")
    if unknown := [n for n in names if n not in known]:
        raise refuse(f"names unknown outputs: {', '.join(unknown)}.", fix=f"use {listed}.")
    gitops = GITOPS_OUTPUT in names
    others = ",".join(n for n in known if n != GITOPS_OUTPUT)
    instead = f"name other outputs (e.g. --only {others})."  # the fix both refusals below offer
    if gitops and apps:
        raise refuse(
            f"{GITOPS_OUTPUT} cannot be combined with named apps ({', '.join(apps)}): "
            f"dist/{GITOPS_OUTPUT}/ lists every app, so it is written only when every app is "
            "synthesized.",
            fix=f"run `synth --only {GITOPS_OUTPUT}` without app names, or {instead}",
        )
    if gitops and not (apps_dir / CONFIG_FILE).is_file():
        raise refuse(
            f"names {GITOPS_OUTPUT}, but there is no {apps_dir / CONFIG_FILE}: "
            f"dist/{GITOPS_OUTPUT}/ is written from it.",
            fix=f"add {apps_dir / CONFIG_FILE} (docs/argocd.md, docs/flux.md), or {instead}",
        )
    return tuple(w for w in every if w.name in names), gitops


def _synthesize(
    apps: Sequence[str],
    apps_dir: Path,
    version: str,
    root: Path,
    strict: bool,
    only: str | None = None,
    full: bool = True,
) -> tuple[Any, list[Path], dict[Path, Any]]:
    """Synthesize the apps (every app in ``apps_dir`` when none is named) for the output
    ``root``: the pipeline's :class:`~constructs_lib.render.pipeline.Result`, every app's
    file, and the records of the apps taken as they are (what ``check`` says about them).
    Without ``full``, an app whose record under ``root`` shows it unchanged is taken from that
    record (with ``strict``, not one synth reported warnings for), and the gitops tree is
    written from the summaries of the others and those records. Each app's inputs digest
    (:mod:`constructs_lib.render.record`) is taken before the apps are loaded: an app file
    changed meanwhile then never matches its record."""
    from constructs_lib.render.inputs import check_version
    from constructs_lib.render.layout import repository_path
    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.render.record import fresh_apps, inputs_digests

    problems: list[Problem] = []  # every problem of the options and arguments at once
    collect(problems, partial(check_version, version))
    chosen = collect(problems, partial(_writers, only, root, apps, apps_dir))
    paths = collect(problems, partial(_app_paths, apps, apps_dir))
    if problems or chosen is None or paths is None:  # None: its problems are listed
        raise UserError(problems)
    writers, gitops = chosen
    inputs = inputs_digests(paths, version, [w.name for w in writers])
    fresh = {} if full else fresh_apps(inputs, root, with_warnings=not strict)
    result = synthesize(
        paths,
        version,
        _progress if sys.stderr.isatty() else None,
        writers,
        # the entry objects list every app: written only when every app is synthesized
        gitops_dir=apps_dir if gitops and not apps else None,
        dist_path=repository_path(root),
        inputs=inputs,
        recorded={p: r.summary for p, r in fresh.items()},
    )
    _warn(result.warnings, strict)
    return result, paths, fresh


def entry() -> None:
    """The ``paperclip-gitops`` command: :func:`main`, then a quick exit.

    The cyclic garbage collector is off: the command makes mostly acyclic, short-lived data,
    and the collector's repeated passes over the growing heap cost 0.4-0.6 s of a 100-instance
    synth, for 3 MB of memory it would have freed. After a large synth the interpreter would
    also spend half a second freeing the heap object by object on its way out. Output is
    flushed and the exit handlers run, then the process ends without that teardown.

    Pydantic plugins are off unless ``PYDANTIC_DISABLE_PLUGINS`` is set: looking for them
    reads the entry points of every installed distribution, 75 ms of each command's start in
    a virtualenv of 85 packages, and none has a use in validating an app.
    """
    import gc
    import signal

    from constructs_lib.render.atomic import INTERRUPT_AT_ENV, output_written

    def interrupted(signum: int, frame: Any) -> None:
        """KeyboardInterrupt (click reports "Aborted!"), unless the output has been written
        already, when the interrupt would change nothing and is ignored."""
        if not output_written():
            raise KeyboardInterrupt

    gc.disable()  # a short-lived process: see above
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    signal.signal(signal.SIGINT, interrupted)
    try:
        try:
            main()
            code: int = 0
        finally:  # from here on an interrupt changes nothing: the exit handlers run
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            click.echo(exc.code, err=True)
            code = 1
    except KeyboardInterrupt:
        click.echo("interrupted; nothing was written.", err=True)
        code = 130
    if os.environ.get(INTERRUPT_AT_ENV) == "exit":  # test hook: Ctrl-C while exiting
        os.kill(os.getpid(), signal.SIGINT)
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="paperclip-gitops")
def main() -> None:
    """Render Paperclip instances into reviewable GitOps manifests.

    An app is a Python module defining instances(), or a YAML file of
    paperclip.inc/v1alpha1 Instance documents. Each app is written to
    dist/<app>/kustomize/ (one file per object and a kustomization.yaml) and
    dist/<app>/helm/ (a chart whose default render is the same objects); the Argo CD
    and Flux objects of apps/_gitops.yaml go to dist/gitops/.

    \b
    Examples:
      paperclip-gitops synth                    # every app in apps/ into dist/
      paperclip-gitops synth quickstart         # one app, by name
      paperclip-gitops synth ./my-instance.yaml --out /tmp/out
      paperclip-gitops check                    # fail if dist/ is stale
      paperclip-gitops validate instance.yaml   # every check, nothing written
      paperclip-gitops values quickstart        # the chart's documented values
      paperclip-gitops schema > instance.schema.json
      paperclip-gitops import exported.yaml     # operator Instances into apps/exported.yaml
    """


@main.command()
@click.argument("apps", nargs=-1, metavar="[APP]...")
@_output_option("--out", "Output root; each app goes to <out>/<app>/ (env PAPERCLIP_GITOPS_OUT).")
@_apps_dir_option
@_version_option
@_strict_option
@click.option(
    "--only",
    metavar="OUTPUTS",
    default=None,
    help="Write only these outputs, comma-separated: kustomize, helm, agents, gitops "
    "(default: all). The app directories then hold only those (and app.json); gitops needs "
    "every app (no APP) and apps/_gitops.yaml.",
)
def synth(
    apps: tuple[str, ...],
    out: Path,
    apps_dir: Path,
    kubernetes_version: str,
    strict: bool,
    only: str | None,
) -> None:
    """Synthesize apps into the output directory, atomically.

    APP is an app name from the apps directory or a path to an app file anywhere on disk
    (its file name's stem is the app name). With no APP every app is synthesized and
    generated directories of apps that no longer exist are removed. A failure leaves the
    output directory exactly as it was.

    \b
    Examples:
      paperclip-gitops synth
      paperclip-gitops synth quickstart production
      paperclip-gitops synth ~/instances/team-a.yaml --out build/
    """
    from constructs_lib.render.atomic import write_trees

    with _reported(writes=True):
        result = _synthesize(apps, apps_dir, kubernetes_version, out, strict, only)[0]
        write_trees(out, result.trees, prune=not apps)
    cdk8s_outdir = os.environ.get("CDK8S_OUTDIR")
    if cdk8s_outdir and Path(cdk8s_outdir).resolve() != out.resolve():
        _copy_manifests(result.trees, Path(cdk8s_outdir))
    files = sum(len(t) for t in result.trees.values())
    click.echo(
        f"synthesized {len(result.rendered)} app(s), {result.instance_count} instance(s), "
        f"{files} file(s) into {out}/ (Kubernetes {kubernetes_version} schema)"
    )


def _copy_manifests(trees: dict[str, dict[str, str]], outdir: Path) -> None:
    """Under `cdk8s synth` (which empties its own output directory first, so it must never be
    dist/): the YAML manifests again in the CLI's directory, for its validation plugins."""
    for app, files in sorted(trees.items()):
        for relative, text in sorted(files.items()):
            # Helm templates are not YAML until rendered
            if relative.endswith(".yaml") and not relative.startswith("helm/"):
                target = outdir / app / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")


@main.command()
@_output_option(
    "--dist", "The committed output to compare with (env PAPERCLIP_GITOPS_OUT, as synth --out)."
)
@_apps_dir_option
@_version_option
@_strict_option
@click.option(
    "--full",
    is_flag=True,
    help="Synthesize every app, also those whose record shows them unchanged.",
)
def check(dist: Path, apps_dir: Path, kubernetes_version: str, strict: bool, full: bool) -> None:
    """Fail (exit 1) with a diff when the committed dist/ differs from a fresh synth.

    Compares a fresh synth with dist/ file by file, including files that should no longer
    exist, executable files and symbolic links (synth writes neither). An app whose record
    (dist/<app>/.paperclip-gitops, written by synth) shows that neither its inputs (the app
    file, the generator, -k) nor its files changed since is taken as it is; every other app
    is synthesized in memory (--full: every app). Run `make synth` and commit the result to
    fix it.
    """
    from constructs_lib.render.layout import stale_app_dirs
    from constructs_lib.render.pipeline import diff_trees, stale_records

    with _reported():
        result, paths, fresh = _synthesize(
            (), apps_dir, kubernetes_version, dist, strict, full=full
        )
    lines = diff_trees(result.trees, dist)
    for app_dir in stale_app_dirs(dist, {*(p.stem for p in paths), *result.trees}):
        lines.append(
            f"{dist}/{app_dir.name}/: generated directory of an app that no longer exists\n"
        )
    counts = (
        f"{len(paths)} app(s): {len(fresh)} unchanged since their record, "
        f"{len(paths) - len(fresh)} synthesized"
    )
    # notes on what check did not show or could not use: warnings of apps taken from their
    # record (not printed again), and (when dist/ is up to date) records that are out of date
    if unshown := sum(1 for r in fresh.values() if r.warnings):
        click.echo(
            f"note: {unshown} app(s) taken from their record had warnings when "
            "synthesized; `check --full` prints them.",
            err=True,
        )
    if not lines and (outdated := stale_records(result.trees, dist)):
        click.echo(
            f"note: {len(outdated)} app(s) have no current record (written before records, "
            "or the generator changed but not their output), so check synthesized them: "
            "`make synth` writes it.",
            err=True,
        )
    if lines:
        sys.stdout.writelines(lines)
        _secho(
            f"{dist}/ is stale ({counts}): run `make synth` and commit the result.",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_STALE)
    click.echo(f"{dist}/ is up to date ({counts}).")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_version_option
@_strict_option
def validate(files: tuple[Path, ...], kubernetes_version: str, strict: bool) -> None:
    """Run every check synth runs on app FILES, writing nothing.

    \b
    Example:
      paperclip-gitops validate apps/production.yaml
    """
    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.spec.loader import path_hint

    with _reported():
        if missing := [f for f in files if not f.is_file()]:
            raise UserError(
                Problem(f"no such file: {f}.", fix=path_hint(f, Path("apps"), by_name=False))
                for f in missing
            )
        result = synthesize(list(files), kubernetes_version)
        _warn(result.warnings, strict)
    objects = sum(len(r.objects) for r in result.rendered)
    click.echo(
        f"valid: {len(files)} file(s), {result.instance_count} instance(s), "
        f"{objects} object(s) (Kubernetes {kubernetes_version} schema)"
    )


@main.command("values")
@click.argument("app", metavar="APP")
@_apps_dir_option
@_version_option
@click.option("--schema", "as_schema", is_flag=True, help="Print values.schema.json instead.")
def values_command(app: str, apps_dir: Path, kubernetes_version: str, as_schema: bool) -> None:
    """Print the Helm chart's values of APP with their documentation (values.yaml).

    Every key is commented with what it does and its default; the chart's README.md has
    the same as a table, and lists the registered values this app's chart leaves out.

    \b
    Examples:
      paperclip-gitops values quickstart
      paperclip-gitops values production --schema
    """
    from constructs_lib.render.helm.chart import build_chart
    from constructs_lib.render.inputs import check_version, display_path
    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.spec.loader import resolve

    with _reported():
        check_version(kubernetes_version)
        [rendered] = synthesize([resolve(app, apps_dir)], kubernetes_version, writers=()).rendered
        chart = build_chart(rendered, display_path(rendered.app.source))
    click.echo(chart.files["values.schema.json" if as_schema else "values.yaml"], nl=False)


@main.command("import")
@click.argument("inputs", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--out",
    "-o",
    metavar="FILE",
    default=None,
    help="The app file to write (default: <apps-dir>/<the input file's name>.yaml; - for "
    "stdout). An existing file is refused without --force.",
)
@_apps_dir_option
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="[NAME:]PATH=VALUE",
    help="A decision: set the field PATH (spec..., metadata...) to VALUE (YAML; null removes "
    "it) in every imported document, or only in the one named NAME. Repeatable.",
)
@click.option(
    "--image-tag",
    metavar="TAG",
    help="The image tag of every document whose image has no usable pin (no tag or digest, "
    "an invalid one, none in its status).",
)
@click.option(
    "--instance",
    "instances",
    multiple=True,
    metavar="NAME",
    help="Import only the Instance(s) of this name (default: all). Repeatable.",
)
@click.option("--force", is_flag=True, help="Replace an existing app file.")
@_version_option
def import_(
    inputs: tuple[str, ...],
    out: str | None,
    apps_dir: Path,
    sets: tuple[str, ...],
    image_tag: str | None,
    instances: tuple[str, ...],
    force: bool,
    kubernetes_version: str,
) -> None:
    """Turn paperclip-operator Instances into an app file that synth takes.

    FILE holds Instance documents or a List of them (`kubectl get instances -o yaml`);
    - reads stdin. What the cluster added (status, managedFields, finalizers, the
    last-applied annotation, ...) is removed, and every mechanical, safe fix is applied
    (an image pinned from the status, a password URL moved into a Secret, a budget that
    blocks every drain relaxed, ...); each change and why is reported on stderr and above
    its document in the app file. What needs your decision is an error naming the choice
    and the --set or --image-tag option that gives it; nothing is written then.

    \b
    Examples:
      kubectl get instances -A -o yaml | paperclip-gitops import - --out apps/team.yaml
      paperclip-gitops import exported.yaml --image-tag 2026.1106.0
      paperclip-gitops import exported.yaml --set 'team-a:spec.restoreFrom=null'
    """
    from constructs_lib.importer.command import run
    from constructs_lib.importer.pipeline import Options
    from constructs_lib.render.inputs import check_version

    with _reported(writes=True):
        options = Options(sets, image_tag, check_version(kubernetes_version), instances)
        outcome = run(inputs, out, apps_dir, options, force, sys.stdin.buffer)
    for line in outcome.report:
        click.echo(line, err=True)
    _warn(outcome.imported.warnings)
    if outcome.path is None:
        click.echo(outcome.imported.text, nl=False)
        return
    count = len(outcome.imported.documents)
    commands = any(d.commands for d in outcome.imported.documents)
    _secho(
        f"wrote {outcome.path}: {count} instance(s). Next: "
        + ("run the commands above, then " if commands else "")
        + f"paperclip-gitops synth {outcome.path}",
        fg="green",
        err=True,
    )


@main.command()
def schema() -> None:
    """Print the JSON Schema of an Instance document (for editors and CI linters).

    It accepts what the other commands accept, an exported Instance's status and server-set
    metadata included. In a YAML file, the YAML language server reads it from a modeline:
    # yaml-language-server: $schema=instance.schema.json
    """
    from constructs_lib.spec.editor_schema import instance_schema

    click.echo(json.dumps(instance_schema(), indent=2, sort_keys=True))


__all__ = ["main"]
