"""``restora models``: list, download, verify and locate the full backend's model weights.

Mounted by ``assistant.cli`` as ``app.add_typer(models_app, name="models")``. Exit status: 0 success;
1 something could not be done (a download failed, weights missing or damaged); 2 bad input (an
unknown model name). Only typer and rich are imported at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

models_app = typer.Typer(
    name="models",
    help="List, download, verify and locate model weights for the full backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", help="Folder holding <name>/ model folders; searched first "
                 "(download: saved there).", file_okay=False),
]
NamesArg = Annotated[list[str] | None, typer.Argument(help="Catalogue names, or diffbir-v2 (default: all).",
                                                      show_default=False)]


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _check_names(names: list[str] | None, bundles: bool = False) -> list[str]:
    """Catalogue names (and, where ``bundles``, diffusion bundles such as diffbir-v2)."""
    from models.catalog import BUNDLES, MODELS

    known = list(MODELS) + (list(BUNDLES) if bundles else [])
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise _fail(f"unknown model{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                    f"known models: {', '.join(known)}.", 2)
    return list(names) if names else known


def _bundle_problems(name: str, weights: Path | None) -> tuple[Path, list[str]]:
    """(folder, problems) of a diffusion bundle; reads files only."""
    from models.restorers.diffusion.families import (
        BASE_DIRNAME,
        DIFFBIR_DIRNAME,
        base_problems,
        diffbir_problems,
        resolve_base,
        resolve_diffbir,
    )

    if weights is not None:
        folder, base = weights / DIFFBIR_DIRNAME, weights / BASE_DIRNAME
    else:
        folder, base = resolve_diffbir(), resolve_base()
    problems = diffbir_problems(folder)
    problems += ["SD-2.1-base is not downloaded"] if isinstance(base, str) else base_problems(base)
    return folder, problems


@models_app.command("list")
def list_models(
    weights: WeightsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the catalogue: what each model is for, its size and licence, and whether it is here."""
    from models.catalog import MODELS
    from models.readiness import full_stage_status
    from models.weights import find_local

    rows = []
    for name, spec in MODELS.items():
        loc = find_local(name, weights)
        rows.append({"name": name, "hf_id": spec.hf_id, "kind": spec.kind, "size_mb": spec.size_mb,
                     "licence": spec.licence, "gated": spec.gated, "purpose": spec.purpose,
                     "present": loc is not None, "path": str(loc.path) if loc else None,
                     "source": loc.source if loc else None})
    from models.catalog import BUNDLES

    for name, bundle in BUNDLES.items():
        folder, problems = _bundle_problems(name, weights)
        rows.append({"name": name, "hf_id": bundle.sources, "kind": "restorer", "size_mb": bundle.size_mb,
                     "licence": bundle.licence, "gated": False, "purpose": bundle.purpose,
                     "present": not problems, "path": str(folder) if not problems else None,
                     "source": "weights folder" if not problems else None})
    ready, why = full_stage_status("grounding")
    restorer_ready, restorer_why = full_stage_status("restorer")
    if as_json:
        typer.echo(json.dumps({"models": rows, "full_grounding": {"ready": ready, "detail": why},
                               "full_restorer": {"ready": restorer_ready, "detail": restorer_why}},
                              indent=2))
        return
    table = Table(title="Restora model catalogue")
    for column in ("name", "kind", "size", "licence", "here?", "purpose"):
        table.add_column(column, overflow="fold")
    for r in rows:
        here = f"yes ({r['source']})" if r["present"] else "no"
        licence = r["licence"] + (" (gated)" if r["gated"] else "")
        table.add_row(r["name"], r["kind"], f"~{r['size_mb']} MB", licence, here, r["purpose"])
    console = Console()
    console.print(table)
    console.print(f"Full grounding backend: {'ready — ' if ready else 'not ready — '}{why}",
                  markup=False, highlight=False)
    console.print(f"Full restorer backend: {'ready — ' if restorer_ready else 'not ready — '}{restorer_why}",
                  markup=False, highlight=False)


@models_app.command()
def download(
    names: Annotated[list[str], typer.Argument(help="Catalogue names, e.g. grounding-dino-tiny "
                                               "sam-vit-base, or diffbir-v2.", show_default=False)],
    weights: WeightsOpt = None,
) -> None:
    """Download models from the Hugging Face Hub (progress bars; interrupted downloads resume)."""
    from models.catalog import BUNDLES, get_spec
    from models.weights import WeightsError
    from models.weights import download as fetch

    failed = []
    for name in _check_names(names, bundles=True):
        if name in BUNDLES:
            bundle = BUNDLES[name]
            typer.echo(f"Downloading {name} ({bundle.sources}, about {bundle.size_mb} MB, {bundle.licence})…",
                       err=True)
            try:
                from models.restorers.diffusion.families import download_diffbir

                folder, base = download_diffbir(weights)
            except WeightsError as err:
                typer.secho(f"Error: {err}", err=True, fg=typer.colors.RED)
                failed.append(name)
                continue
            typer.echo(f"{name}: {folder} (SD-2.1-base: {base})")
            continue
        spec = get_spec(name)
        typer.echo(f"Downloading {name} ({spec.hf_id}, about {spec.size_mb} MB, {spec.licence})…",
                   err=True)
        if spec.gated:
            typer.echo(f"{spec.hf_id} is gated: accept its licence at https://huggingface.co/{spec.hf_id} "
                       "and log in with `hf auth login` first.", err=True)
        try:
            path = fetch(name, weights)
        except WeightsError as err:
            typer.secho(f"Error: {err}", err=True, fg=typer.colors.RED)
            failed.append(name)
            continue
        typer.echo(f"{name}: {path}")
    if failed:
        raise typer.Exit(1)


@models_app.command()
def verify(names: NamesArg = None, weights: WeightsOpt = None) -> None:
    """Check downloaded weights: config present, every safetensors file complete (headers only).

    Named models must be present; without names, missing models are listed but only damaged ones
    fail.
    """
    from models.catalog import BUNDLES
    from models.readiness import full_stage_status
    from models.weights import verify as check

    explicit = bool(names)
    bad = False
    for name in _check_names(names, bundles=True):
        if name in BUNDLES:
            folder, problems = _bundle_problems(name, weights)
            if problems:
                typer.echo(f"missing  {name}: {'; '.join(problems)} (`restora models download {name}`)")
                bad |= explicit
            else:
                typer.echo(f"ok       {name} at {folder}")
            continue
        loc, problems = check(name, weights)
        if loc is None:
            typer.echo(f"missing  {name}: not downloaded (`restora models download {name}`)")
            bad |= explicit
        elif problems:
            typer.echo(f"BROKEN   {name} at {loc.path}: {'; '.join(problems)}")
            bad = True
        else:
            typer.echo(f"ok       {name} at {loc.path} ({loc.source})")
    ready, why = full_stage_status("grounding")
    typer.echo(f"Full grounding backend: {'ready' if ready else 'not ready'} — {why}")
    if bad:
        raise typer.Exit(1)


@models_app.command()
def where(names: NamesArg = None, weights: WeightsOpt = None) -> None:
    """Print where Restora looks for weights (first match wins) and where each model was found."""
    import os

    from models.catalog import weights_dir
    from models.weights import find_local, hub_cache_dir, hub_offline

    env_dir = "RESTORA_WEIGHTS_DIR" in os.environ
    hub_env = "HF_HUB_CACHE" if os.environ.get("HF_HUB_CACHE") else "default"
    typer.echo("Restora looks for model weights in this order:")
    typer.echo(f"  1. --weights DIR: {str(weights) + '/<name>' if weights else '(not given)'}")
    typer.echo(f"  2. {weights_dir()}/<name> "
               f"({'RESTORA_WEIGHTS_DIR' if env_dir else 'default; set RESTORA_WEIGHTS_DIR to change'})")
    typer.echo(f"  3. Hugging Face Hub cache: {hub_cache_dir()} ({hub_env})")
    target = (f"{weights}/<name>" if weights else
              f"{weights_dir()}/<name>" if env_dir else f"the Hub cache ({hub_cache_dir()})")
    typer.echo(f"`restora models download` saves to {target}.")
    typer.echo(f"HF_HUB_OFFLINE is {'set: downloads are disabled' if hub_offline() else 'not set'}.")
    from models.catalog import BUNDLES

    for name in _check_names(names, bundles=True):
        if name in BUNDLES:
            folder, problems = _bundle_problems(name, weights)
            status = f" (incomplete: {'; '.join(problems)})" if problems else ""
            typer.echo(f"{name}: {folder}{status}")
            continue
        loc = find_local(name, weights)
        typer.echo(f"{name}: {loc.path} ({loc.source})" if loc else f"{name}: not found")


@models_app.command()
def convert(
    checkpoint: Annotated[Path, typer.Argument(help="An original sam_vit_*.pth or groundingdino_*.pth.",
                                               exists=True, dir_okay=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Folder to write (default: "
                   "$RESTORA_WEIGHTS_DIR/<catalogue name>).", file_okay=False)] = None,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="GroundingDINO only: folder or cached "
                         "Hub id of its BERT tokenizer.")] = "bert-base-uncased",
) -> None:
    """Convert an original segment-anything or groundingdino-py checkpoint to a catalogue folder.

    The checkpoint is read with torch.load(weights_only=True); neither original package is needed.
    """
    from models.weights import load_state_dict

    try:
        keys = {k.removeprefix("module.") for k in load_state_dict(checkpoint)}
        if any(k.startswith("image_encoder.") for k in keys):
            from models.grounding.sam_original import convert_sam_checkpoint

            folder = convert_sam_checkpoint(checkpoint, out)
        elif any(k.startswith("backbone.0.") for k in keys):
            from models.grounding.gdino_original import convert_gdino_checkpoint

            folder = convert_gdino_checkpoint(checkpoint, tokenizer, out)
        else:
            raise ValueError("it is neither a segment-anything nor a groundingdino-py checkpoint")
    except (OSError, ValueError) as err:
        raise _fail(f"cannot convert {checkpoint}: {err}", 1) from err
    typer.echo(f"Wrote {folder}")
