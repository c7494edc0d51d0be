"""``ganforge serve``, ``ganforge worker`` and ``ganforge keys``: the studio's command line.

Thin like ``cli.py``: parse options, call the studio's functions, print. FastAPI, uvicorn and
Celery are imported only when a command runs.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import click

from ..errors import GanforgeError
from .settings import MAX_IMAGES_PER_DAY, MAX_JOB_MEMORY_MIB, MAX_OUTPUT_MEGAPIXELS

DATA_DIR_HELP = "the studio's folder: studio.sqlite3 (jobs, keys), uploads/ and results/"
DEFAULT_DATA_DIR = Path(os.environ.get("GANFORGE_STUDIO_DIR", "studio-data"))
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATA_DIR,
                               show_default=True, help=DATA_DIR_HELP + " (default from $GANFORGE_STUDIO_DIR)")


def _need_studio() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise GanforgeError("the studio needs its extra packages: pip install 'ganforge[studio]'") from None


def _store(data_dir: Path, *, create: bool = True):
    from .store import Store

    if not create and not (data_dir / "studio.sqlite3").is_file():
        raise GanforgeError(f"'{data_dir}' holds no studio yet (no studio.sqlite3); check --data-dir")
    return Store(data_dir)


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    return f"http://{shown}:{port}"


SERVER_FILE = "server.json"  # the address the last `ganforge serve` on a data dir listened on


def signin_link(data_dir: Path, base: str, minutes: float) -> str:
    from .auth import owner_key, signin_token

    store = _store(data_dir)
    return f"{base}/signin?token={signin_token(store, owner_key(store), minutes)}"


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise GanforgeError(f"cannot listen on {host}:{port} ({err.strerror}); choose another --port") from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; 0.0.0.0 opens the studio to your network (use API keys and HTTPS)")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@data_dir_option
@click.option("--workers", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="job worker threads in this server (local queue); each runs one job at a time")
@click.option("--queue", default="local", show_default=True, metavar="local|redis://HOST:PORT/DB",
              help="local: jobs run in this server's worker threads; redis://...: jobs go to Celery workers "
                   "(ganforge worker --queue ...) on any machine")
@click.option("--signin-minutes", type=click.FloatRange(min=0.5), default=10.0, show_default=True,
              help="how long the printed sign-in link works (once)")
@click.option("--secure-cookies", is_flag=True, help="mark the session cookie Secure (behind an HTTPS proxy)")
@click.option("--stale-seconds", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="a running job whose worker sent no heartbeat for this long (a killed server or worker) is "
                   "queued again; after 3 tries it fails with the reason")
@click.option("--max-output-megapixels", type=click.FloatRange(min=0.01), default=100.0, show_default=True,
              help="the largest result image a job may make (a 24 MP photo upscaled 2x is 96 MP); bigger ones are "
                   "refused at submit with 413")
@click.option("--max-images-per-job", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="the most images one job may make, every picture of a grid counted; more is refused with 422")
@click.option("--max-job-memory-mib", type=click.IntRange(min=1, max=MAX_JOB_MEMORY_MIB), default=2048,
              show_default=True,
              help="the most memory one job's item may need, as estimated at submit from its image size and parameters "
                   "(a 100 MP x4 upscale with tile 512 is about 1,600 MiB); more is refused with 413. The server's peak "
                   "stays below its idle memory plus --workers times this (docs/api.md, Limits)")
def serve(host: str, port: int, data_dir: Path, workers: int, queue: str, signin_minutes: float,
          secure_cookies: bool, stale_seconds: float, max_output_megapixels: float, max_images_per_job: int,
          max_job_memory_mib: int) -> None:
    """Start the studio: the web page, the REST API (/v1, documented at /docs) and the job workers.

    Prints the address and a one-time sign-in link for the page. Jobs and keys live in
    --data-dir and survive a restart: queued jobs wait, running ones run again.

    \b
    Examples:
      ganforge serve
      ganforge serve --port 8080 --workers 2 --data-dir /srv/ganforge
      ganforge serve --queue redis://127.0.0.1:6379/0     (and ganforge worker on other machines)
    """
    _need_studio()
    import uvicorn

    from .app import create_app
    from .settings import StudioSettings

    _check_port(host, port)
    settings = StudioSettings(data_dir=data_dir, queue=queue, workers=workers, secure_cookies=secure_cookies,
                              signin_minutes=signin_minutes, stale_seconds=stale_seconds,
                              max_output_megapixels=max_output_megapixels, max_images_per_job=max_images_per_job,
                              max_job_memory_mib=max_job_memory_mib)
    base = _base_url(host, port)
    link = signin_link(data_dir, base, signin_minutes)

    def ready() -> None:
        from ..fileio import atomic_write_text

        atomic_write_text(data_dir / SERVER_FILE, json.dumps({"url": base}))
        click.echo(f"ganforge studio: {base}/   (API docs: {base}/docs; jobs and keys in {data_dir})")
        click.echo(f"sign in (works once, for {signin_minutes:g} minutes): {link}")
        click.echo("new link later: ganforge keys link; API keys: ganforge keys create NAME; stop: Ctrl+C")

    app = create_app(settings, on_ready=ready)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


@click.command()
@click.option("--queue", required=True, metavar="redis://HOST:PORT/DB", help="the Redis broker the server uses")
@click.option("--concurrency", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="jobs this worker runs at once (processes)")
@click.option("--name", default=None, help="worker name in Celery's logs (default: celery@HOSTNAME)")
def worker(queue: str, concurrency: int, name: str | None) -> None:
    """Run studio jobs from a Redis queue (Celery), on this or any other machine.

    The worker needs no access to the server's files: inputs and results travel through Redis.
    Start any number of them; a worker that dies mid-job has its job re-queued.

    \b
    Example:
      ganforge worker --queue redis://10.0.0.5:6379/0 --concurrency 2
    """
    from .queues.celery import run_worker

    run_worker(queue, concurrency=concurrency, name=name)


@click.group()
def keys() -> None:
    """API keys: create (the secret is shown once), list, revoke, and sign-in links for the page.

    Keys are stored hashed in the data dir's database. Every /v1 request sends one as
    'Authorization: Bearer KEY'.
    """


@keys.command("create")
@click.argument("name")
@click.option("--rate", default="60/min", show_default=True, metavar="N/UNIT",
              help="requests allowed per window: N/s, N/min, N/h or N/day (429 with Retry-After past it)")
@click.option("--images-per-day", type=click.IntRange(min=0, max=MAX_IMAGES_PER_DAY), default=None,
              help="images per UTC day, every image a job makes (each picture of a grid); default unlimited")
@click.option("--max-output-megapixels", type=click.FloatRange(min=0.01, max=MAX_OUTPUT_MEGAPIXELS), default=None,
              help="this key's largest result image, in megapixels; the server's --max-output-megapixels applies "
                   "if lower; default: the server's")
@click.option("--max-job-memory-mib", type=click.IntRange(min=1, max=MAX_JOB_MEMORY_MIB), default=None,
              help="this key's largest estimated memory of one job; the server's --max-job-memory-mib applies if "
                   "lower; default: the server's")
@click.option("--admin", is_flag=True, help="may manage keys through the API (/v1/keys) and see every job")
@data_dir_option
def keys_create(name: str, rate: str, images_per_day: int | None, max_output_megapixels: float | None,
                max_job_memory_mib: int | None, admin: bool, data_dir: Path) -> None:
    """Create a key NAME and print its secret (shown this once: store it now)."""
    from .auth import create_key

    key, secret = create_key(_store(data_dir), name, rate=rate, images_per_day=images_per_day, admin=admin,
                             max_output_megapixels=max_output_megapixels, max_job_memory_mib=max_job_memory_mib)
    click.echo(secret)
    limit = f", {images_per_day} images/day" if images_per_day is not None else ""
    limit += f", results up to {max_output_megapixels:g} MP" if max_output_megapixels is not None else ""
    limit += f", jobs up to {max_job_memory_mib} MiB" if max_job_memory_mib is not None else ""
    click.echo(f"created key '{key.name}' ({key.public()['rate']}{limit}{', admin' if admin else ''}); "
               "the line above is its secret, shown only now", err=True)


@keys.command("list")
@data_dir_option
def keys_list(data_dir: Path) -> None:
    """Every key: name, public prefix, limits, state (never a secret)."""
    rows = _store(data_dir, create=False).keys()
    if not rows:
        click.echo("no keys yet: ganforge keys create NAME", err=True)
        return
    click.echo(f"{'name':<20} {'prefix':<10} {'rate':<10} {'images/day':<11} {'max MP':<8} {'max MiB':<8} "
               f"{'admin':<6} state")
    for k in rows:
        p = k.public()
        state = "revoked" if k.revoked else "live"
        day = "-" if k.images_per_day is None else str(k.images_per_day)
        mp = "-" if k.max_output_megapixels is None else f"{k.max_output_megapixels:g}"
        mib = "-" if k.max_job_memory_mib is None else str(k.max_job_memory_mib)
        click.echo(f"{k.name:<20} {k.prefix:<10} {p['rate']:<10} {day:<11} {mp:<8} {mib:<8} "
                   f"{'yes' if k.admin else 'no':<6} {state}")


@keys.command("revoke")
@click.argument("name")
@data_dir_option
def keys_revoke(name: str, data_dir: Path) -> None:
    """Revoke key NAME: its requests and page sessions stop at once."""
    if not _store(data_dir, create=False).revoke_key(name):
        raise GanforgeError(f"no live key named '{name}' (see ganforge keys list)")
    click.echo(f"revoked key '{name}'", err=True)


@keys.command("link")
@click.option("--url", default=None, metavar="http://HOST:PORT",
              help="the server's address; default: where the last ganforge serve on --data-dir listened")
@click.option("--minutes", type=click.FloatRange(min=0.5), default=10.0, show_default=True)
@data_dir_option
def keys_link(url: str | None, minutes: float, data_dir: Path) -> None:
    """A new one-time sign-in link for the page (the running server accepts it)."""
    if url is None:
        try:
            url = json.loads((data_dir / SERVER_FILE).read_text())["url"]
        except (OSError, ValueError, KeyError):
            raise GanforgeError(f"no server has run on {data_dir} yet; start ganforge serve or pass --url") from None
    click.echo(signin_link(data_dir, url.rstrip("/"), minutes))


COMMANDS = (serve, worker, keys)
