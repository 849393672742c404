"""The ``bawaba`` command: one entry point for every job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bawaba.errors import BawabaError, ConfigError
from bawaba.settings import Settings, get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Bawaba: open data for government e-payments and e-services.",
)
simulate_app = typer.Typer(
    no_args_is_help=False, add_completion=False, help="The simulated departments' own systems."
)
pipelines_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Department ingestion pipelines."
)
app.add_typer(simulate_app, name="simulate")
app.add_typer(pipelines_app, name="pipelines")
catalog_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The dataset catalog.")
app.add_typer(catalog_app, name="catalog")
keys_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="API keys of the premium tier."
)
app.add_typer(keys_app, name="keys")

console = Console(stderr=True, soft_wrap=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])


def _settings(**overrides: object) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    base = get_settings()
    return base.model_copy(update=given) if given else base


@contextmanager
def _user_errors() -> Iterator[None]:
    """A BawabaError is the user's to fix: print it plainly, exit 2, no traceback."""
    try:
        yield
    except BawabaError as error:
        console.print(f"[bold red]error[/] {escape(f'[{error.slug}]')}: {escape(error.message)}")
        if error.hint:
            console.print(f"[bold]hint:[/] {escape(error.hint)}")
        raise typer.Exit(2) from None


@simulate_app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    scale: Annotated[
        float | None, typer.Option(help="Volume; 1.0 = the published figures.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same bytes).")] = None,
    years: Annotated[list[int] | None, typer.Option("--year", help="Year(s) to simulate.")] = None,
    department: Annotated[list[str] | None, typer.Option(help="Only these departments.")] = None,
    through: Annotated[
        str | None,
        typer.Option(
            help="Let time pass up to the end of this month (YYYY-MM): deliveries of every "
            "month so far, late records a month later; months already delivered stay."
        ),
    ] = None,
) -> None:
    """Simulate the departments' systems: landing files and HTTP export stores under var/."""
    if ctx.invoked_subcommand is not None:
        return
    with _user_errors():
        settings = _settings(scale=scale, seed=seed)
        until = _month(through) if through is not None else None
        chosen = years or ([*range(2012, until[0] + 1)] if until else [2012, 2013])
        truth = _simulate(settings, chosen, department, until)
        rows = sum(d.rows for d in truth.departments.values())
        out.print(
            f"simulated {rows:,} raw rows for {len(truth.departments)} departments at "
            f"scale {settings.scale} into {settings.var_dir}/"
        )


def _progress() -> Progress:
    """A progress bar on stderr that disappears when done, leaving the summary."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month), or a user error naming the shape."""
    try:
        year, month = (int(part) for part in text.split("-"))
    except ValueError:
        raise ConfigError(
            f"--through {text!r} is not a month", hint="give YYYY-MM, e.g. 2012-10"
        ) from None
    if not 1 <= month <= 12 or len(text) != 7:
        raise ConfigError(f"--through {text!r} is not a month", hint="give YYYY-MM, e.g. 2012-10")
    return year, month


def _simulate(
    settings: Settings,
    years: list[int],
    departments: list[str] | None,
    through: tuple[int, int] | None = None,
) -> Any:
    from bawaba.simulator.simulate import simulate as run_simulation

    with _progress() as bar:
        task = bar.add_task("simulating", total=None)

        def advance(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"simulating {label}", completed=done, total=total)

        return run_simulation(
            settings, years=years, departments=departments, progress=advance, through=through
        )


@simulate_app.command("serve")
def simulate_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 503.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of requests answered slowly.")] = 0.0,
    visible_until: Annotated[
        str | None, typer.Option(help="Hide records from this ISO date on.")
    ] = None,
) -> None:
    """Serve the HTTP departments' export APIs (paged JSON) until interrupted."""
    import uvicorn

    from bawaba.simulator.server import Faults, create_app

    settings = _settings()
    faults = Faults(error_rate=error_rate, slow_rate=slow_rate, seed=settings.seed)
    api = create_app(settings.systems_dir, faults=faults, visible_until=visible_until)
    uvicorn.run(api, host=host, port=port, log_level="warning")


@pipelines_app.command("list")
def pipelines_list() -> None:
    """List the department pipelines and where each takes its data from."""
    from bawaba.ingest.registry import load_pipelines

    with _user_errors():
        pipelines = load_pipelines(_settings().pipelines_dir)
    table = Table("department", "source", "reader")
    for code, pipeline in sorted(pipelines.items()):
        source = pipeline.source
        where = getattr(source, "pattern", None) or getattr(source, "path", "")
        table.add_row(code, f"{type(source).__name__} {where}", pipeline.format.reader)
    out.print(table)


ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="Run the work on this Dask scheduler's workers (default: BAWABA_DASK_SCHEDULER, "
        "else here); the store, the landing zone and var/ must be on storage they share.",
    ),
]


@pipelines_app.command("run")
def pipelines_run(
    departments: Annotated[
        list[str] | None, typer.Argument(help="Department codes (default: all).")
    ] = None,
    cluster: ClusterOption = None,
) -> None:
    """Ingest what is new at each department into the analytic store."""
    with _user_errors():
        report = _run_pipelines(_settings(dask_scheduler=cluster), departments or [])
    if report.failed:
        raise typer.Exit(1)


def _run_pipelines(settings: Settings, departments: list[str]) -> Any:
    from bawaba.ingest.allocator import keep_freed_pages

    keep_freed_pages()  # before the runner imports Polars
    from bawaba.ingest.runner import run_pipelines

    with _progress() as bar:
        task = bar.add_task("ingesting", total=None)
        seen: set[str] = set()

        def advance(department: str, step: str) -> None:
            if department not in seen:
                seen.add(department)
                bar.update(task, completed=len(seen) - 1)
            bar.update(task, description=f"{department}: {step}")

        report = run_pipelines(settings, departments, progress=advance)
    _print_report(report)
    return report


def _print_report(report: Any) -> None:
    table = Table(
        "department",
        "files",
        "raw",
        "accepted",
        "quarantined",
        "duplicates",
        "seconds",
        "status",
        title=f"ingestion run {report.run_id}",
    )
    totals = [0, 0, 0, 0, 0]
    for result in report.departments:
        counts = [result.files, result.raw, result.accepted, result.quarantined, result.duplicates]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        status = (
            "[red]" + (result.error or "")
            if result.error
            else (", ".join(f"{k} {v}" for k, v in result.reasons.items()) or "ok")
        )
        table.add_row(
            result.department, *(f"{c:,}" for c in counts), f"{result.seconds:.1f}", status
        )
    table.add_row("total", *(f"{c:,}" for c in totals), "", "", style="bold")
    out.print(table)
    for result in report.departments:
        for broken in result.broken_files:
            out.print(
                f"{result.department}: quarantined whole, {broken['rows']:,} rows: "
                f"{broken['message']}",
                soft_wrap=True,
                markup=False,
            )
        for revised in result.revised:
            out.print(
                f"{result.department}: {revised['file']} is a revision: its rows replace "
                f"the {revised['replaced_rows']:,} rows of its earlier delivery",
                soft_wrap=True,
                markup=False,
            )
    if not report.committed:
        out.print("nothing new: the analytic store is unchanged")


@app.command("publish")
def publish_command(cluster: ClusterOption = None) -> None:
    """Build every dataset of the catalog from the analytic store, gate it, publish it."""
    with _user_errors():
        _publish(_settings(dask_scheduler=cluster))


def _publish(settings: Settings) -> Any:
    from bawaba.publish.explain import explain
    from bawaba.publish.publisher import publish

    with console.status("publishing") as status:
        report = publish(settings, progress=lambda step: status.update(step))
    table = Table(
        "dataset",
        "version",
        "status",
        "rows",
        "suppressed",
        "note",
        title=f"release {report.release}",
    )
    for d in report.datasets:
        table.add_row(
            d.dataset, d.version or "-", d.status, f"{d.rows:,}", f"{d.suppressed:,}", d.note
        )
    out.print(table)
    for line in explain(report):
        out.print(escape(line), soft_wrap=True)
    out.print(
        "switched to the new release"
        if report.switched
        else "nothing changed: the current release stays"
    )
    return report


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="Volume; 1.0 = the published figures.")] = 1.0,
    serve: Annotated[bool, typer.Option(help="Serve the API when done.")] = True,
    cluster: Annotated[
        bool,
        typer.Option(
            help="Run it past one machine, on this one: releases on S3 (moto's server, from "
            "the dev extra), keys in PostgreSQL, two replicas behind nginx on the API port; "
            "Ctrl+C stops everything (`make demo-cluster` installs what it needs)."
        ),
    ] = False,
) -> None:
    """The main job: simulate 2012-2013, run every pipeline, publish, serve."""
    with _user_errors():
        settings = _settings(scale=scale)
        if cluster:
            _demo_cluster(settings, serve)
            return
        _demo_release(settings, settings)
    if serve:
        _serve(settings, settings.api_host, settings.api_port, settings.api_workers)


def _demo_release(settings: Settings, published: Settings) -> None:
    """Simulate, ingest into ``settings``' store, publish where ``published`` says, and
    make a demo key in its key store."""
    from bawaba.ingest.pseudonym import ensure_key_file
    from bawaba.loopback import serve_in_thread
    from bawaba.simulator.server import create_app

    if ensure_key_file(settings):
        out.print(f"generated a pseudonym key in {settings.pseudonym_key_file}")
    _simulate(settings, [2012, 2013], None)
    with serve_in_thread(create_app(settings.systems_dir)) as departments_api:
        report = _run_pipelines(
            settings.model_copy(update={"departments_api_url": departments_api}), []
        )
    if report.failed:
        raise typer.Exit(1)
    _publish(published)
    key, secret = _key_store(published).create("Demo Business", "business", None)
    out.print(
        f"\ndemo premium key ({key.prefix}, plan business):\n  {secret}\ntry:\n"
        f"  curl -H 'X-API-Key: {secret}' "
        f"'http://{settings.api_host}:{settings.api_port}/api/v1/datasets/payer-mix/records"
        "?limit=5'",
        soft_wrap=True,
        highlight=False,
    )


def _demo_cluster(settings: Settings, serve: bool) -> None:
    from bawaba.cluster import demo as cluster_demo

    with cluster_demo.services(settings) as running:
        out.print(
            f"object storage (moto) at {running.s3.endpoint}, "
            f"PostgreSQL on 127.0.0.1:{running.postgres.port}",
            soft_wrap=True,
            highlight=False,
        )
        _demo_release(settings, running.settings(settings))
        if not serve:
            return
        with cluster_demo.front(running, settings.api_port) as cluster:
            replicas = ", ".join(r.url for r in cluster.replicas)
            cluster_demo.serve_until_interrupted(
                cluster,
                lambda line: out.print(line, soft_wrap=True, highlight=False),
                f"\ncluster on {cluster.proxy.url}  (nginx -> replicas {replicas}; "
                f"nginx's access log, naming the replica of each request: "
                f"{cluster.proxy.access_log})\nCtrl+C stops everything",
            )


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes.")] = None,
) -> None:
    """Serve the published datasets: the API under /api/v1, its docs at /docs."""
    with _user_errors():
        settings = _settings()
        _serve(
            settings,
            host or settings.api_host,
            settings.api_port if port is None else port,
            workers or settings.api_workers,
        )


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from bawaba.api.server import server_options
    from bawaba.catalog.load import load_catalog
    from bawaba.keys.store import store_secret

    # A broken catalog or a lost secret fails here, not in every worker.
    load_catalog(settings.catalog_path)
    store_secret(settings)
    base = f"http://{host}:{port}"
    datasets = f"{base}/api/v1/datasets"
    out.print(f"serving on {base}  (Ctrl+C stops)", soft_wrap=True)
    for what, url in (
        ("portal", f"{base}/  (Arabic: {base}/?lang=ar)"),
        ("API docs", f"{base}/docs"),
        ("datasets", datasets),
        ("records", f"{datasets}/epay-annual/records?department=RTA&order=-year"),
        (
            "aggregate",
            f"{datasets}/epay-monthly/aggregate?group_by=channel&measures=sum(amount_aed)",
        ),
        ("download", f"{datasets}/epay-annual/download.csv"),
    ):
        out.print(f"  {what:<10} {url}", soft_wrap=True, highlight=False)
    uvicorn.run(
        "bawaba.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        **server_options(settings),
    )


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


def _key_store(settings: Settings) -> Any:
    from bawaba.keys.backends import open_key_store

    return open_key_store(settings)


def _key_document(key: Any, secret: str | None = None) -> dict[str, Any]:
    document = {
        "id": key.id,
        "prefix": key.prefix,
        "org": key.org,
        "plan": key.plan,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
    return {"id": key.id, "key": secret, "plan": key.plan, **document} if secret else document


def _print_new_key(key: Any, secret: str, as_json: bool) -> None:
    import json

    if as_json:
        out.print_json(json.dumps(_key_document(key, secret)))
        return
    out.print(f"key {key.prefix} for {key.org!r} on plan {key.plan!r}", soft_wrap=True)
    out.print(secret, soft_wrap=True, highlight=False)
    console.print("this is the only time the key is shown: keep it now")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="The organisation the key is for.")],
    plan: Annotated[str, typer.Option(help="A plan of api_keys/plans.yaml.")],
    expires: Annotated[
        str | None, typer.Option(help="Lifetime such as 90d, 12w or 24h (default: none).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key; it is printed once and only its keyed hash is stored."""
    from datetime import UTC, datetime

    from bawaba.catalog.load import load_catalog
    from bawaba.keys.plans import load_plans

    with _user_errors():
        settings = _settings()
        load_plans(settings.plans_path, load_catalog(settings.catalog_path)).get(plan)
        expires_at = datetime.now(UTC) + _duration(expires) if expires else None
        key, secret = _key_store(settings).create(org, plan, expires_at)
        _print_new_key(key, secret, as_json)


def _duration(text: str) -> Any:
    import re
    from datetime import timedelta

    match = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not match:
        raise BawabaError(
            f"--expires {text!r} is not a lifetime",
            hint="write a number and h, d or w: 24h, 90d, 12w",
            slug="bad-option",
        )
    unit = {"h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """Every key: prefix, organisation, plan, dates and state (never the secret)."""
    import json
    from datetime import UTC, datetime

    with _user_errors():
        keys = _key_store(_settings()).list()
    if as_json:
        out.print_json(json.dumps([_key_document(k) for k in keys]))
        return
    now = datetime.now(UTC)
    table = Table("id", "prefix", "org", "plan", "created", "expires", "state")
    for k in keys:
        state = "usable" if k.usable(now) else ("revoked" if k.revoked_at else "expired")
        table.add_row(
            k.id,
            k.prefix,
            k.org,
            k.plan,
            f"{k.created_at:%Y-%m-%d}",
            f"{k.expires_at:%Y-%m-%d}" if k.expires_at else "-",
            state,
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id.")], as_json: JsonOption = False
) -> None:
    """Revoke a key: it is refused from its next request on."""
    import json

    with _user_errors():
        key = _key_store(_settings()).revoke(key_id)
    if as_json:
        out.print_json(json.dumps(_key_document(key)))
    else:
        out.print(f"revoked {key.prefix}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id.")], as_json: JsonOption = False
) -> None:
    """Give a key a new secret (same id, plan and usage); the old secret stops working."""
    with _user_errors():
        key, secret = _key_store(_settings()).rotate(key_id)
        _print_new_key(key, secret, as_json)


@catalog_app.command("validate")
def catalog_validate(
    path: Annotated[
        str | None, typer.Option(help="The catalog to check (default: the settings' catalog_path).")
    ] = None,
) -> None:
    """Check the catalog and list every problem in it; exit 1 when there is any."""
    from pathlib import Path

    from bawaba.catalog import validate_catalog

    where = Path(path) if path is not None else _settings().catalog_path
    catalog, problems = validate_catalog(where)
    for problem in problems:
        typer.echo(str(problem))
    if problems or catalog is None:
        typer.echo(f"{where}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    typer.echo(f"{where}: {len(catalog.datasets)} datasets, no problems")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
