"""The model service on Ray Serve, and ``superpose-ls model-server`` (issue 19).

One Ray Serve deployment, one model per replica: each replica is a
:class:`~lsp_server.serving.service.ModelService` whose ASGI application Ray Serve's
HTTP proxy serves (``serve.ingress`` with the app built on the replica). Requests of all
users reach the replica's event loop concurrently (``max_ongoing_requests``), and its
background step loop batches them: superposed decoding (Shen et al. 2024), one row per
request, one forward call per step. ``@serve.batch`` would batch whole calls and cannot
let requests join and leave between steps, so it is not used.

``superpose-ls model-server [--host 127.0.0.1] [--port 8000] [--model PATH] [--device
...] [--address RAY_ADDRESS]`` starts Ray locally (or joins the cluster at ``--address``),
runs the application, and on SIGINT/SIGTERM deletes it and shuts down what it started:
a local Ray it started goes with it, no Ray process is left behind.

Ray is imported here only, lazily: ``pip install 'superpose-ls[serve]'``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

APP_NAME = "superpose"
DEPLOYMENT_NAME = "superpose-model"
TOKEN_ENV = "SUPERPOSE_SERVICE_TOKEN"
MAX_ONGOING = 256  # requests a replica accepts at once (the step loop batches them)


class RayMissing(RuntimeError):
    """Ray Serve is not installed."""


def require_ray() -> None:
    """Raise :class:`RayMissing` with the install line when Ray Serve is not importable."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as exc:
        raise RayMissing(
            f"the model server needs Ray Serve ({exc}): pip install 'superpose-ls[serve]'"
        ) from exc


class ModelReplica:
    """A Ray Serve replica: loads the model once and serves its ASGI application."""

    def __init__(self, model: str, device: str, token: str | None, max_rows: int) -> None:
        from lsp_server.serving.service import ModelService

        self.service = ModelService.load(model, device, token=token, max_rows=max_rows)

    def __serve_build_asgi_app__(self) -> Any:
        return self.service  # an ASGI 3 application


def build_app(
    model: str = "default",
    device: str = "auto",
    token: str | None = None,
    max_rows: int = 64,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
) -> Any:
    """Return the bound Ray Serve application (one model per replica)."""
    require_ray()
    from ray import serve

    ingress = serve.ingress()(ModelReplica)
    deployment = serve.deployment(
        ingress,
        name=DEPLOYMENT_NAME,
        num_replicas=replicas,
        max_ongoing_requests=MAX_ONGOING,
        ray_actor_options={"num_cpus": cpus_per_replica},
    )
    return deployment.bind(model, device, token, max_rows)


def run_model_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str = "default",
    device: str = "auto",
    address: str | None = None,
    token: str | None = None,
    max_rows: int = 64,
    replicas: int = 1,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop``); return the exit code.

    Without ``address`` a local Ray instance is started and shut down on exit (with every
    process of its session, should one outlive ``ray.shutdown``); with it, the application
    joins that cluster and only the application is deleted on exit.
    """
    require_ray()
    import ray
    from ray import serve

    stop = stop or threading.Event()
    started_ray = address is None
    _on_signals(stop)  # a signal while Ray starts stops it as soon as it has started
    if started_ray:
        ray.init(
            num_cpus=max(1, os.cpu_count() or 1),
            include_dashboard=False,
            object_store_memory=128 * 1024 * 1024,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    session = _session_name() if started_ray else None
    _on_signals(stop)  # again: ray.init installs handlers of its own
    failure: list[BaseException] = []
    deployed = threading.Event()

    def deploy() -> None:
        try:
            serve.start(http_options={"host": host, "port": port})
            app = build_app(model, device, token, max_rows, replicas)
            serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)
        finally:
            deployed.set()

    try:
        # deploying takes a while (the replica loads the model): a signal may come first
        threading.Thread(target=deploy, daemon=True, name="superpose-deploy").start()
        while not (deployed.wait(0.2) or stop.is_set()):
            pass
        if failure:
            raise failure[0]
        if not stop.is_set():
            print(f"superpose-ls model-server: serving {model} at http://{host}:{port}", flush=True)
            if ready is not None:
                ready.set()
        while not stop.wait(0.5):
            pass
        print("superpose-ls model-server: stopping", flush=True)
        return 0
    finally:
        started = _descendants() if started_ray else set()
        _stop(serve, ray, started_ray, deployed)
        if started_ray:
            _kill_leftovers(session, started)


def _on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM set ``stop`` (the server then shuts down what it started)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())


def _stop(serve: Any, ray: Any, started_ray: bool, deployed: threading.Event) -> None:
    """Delete the application (bounded wait), then disconnect or shut down Ray."""
    done = threading.Event()

    def shutdown() -> None:
        try:
            if started_ray:
                serve.shutdown()
            elif deployed.is_set():
                serve.delete(APP_NAME)
        except Exception:  # noqa: BLE001 - shutting down goes on whatever happens
            log.exception("stopping the Serve application failed")
        finally:
            done.set()

    threading.Thread(target=shutdown, daemon=True, name="superpose-shutdown").start()
    done.wait(30.0)
    ray.shutdown()


def _session_name() -> str | None:
    """The local Ray session's name (its processes carry it on their command line)."""
    try:
        from ray._private import worker

        return Path(worker._global_node.get_session_dir_path()).name
    except Exception:  # noqa: BLE001 - then only ray.shutdown cleans up
        return None


def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process (Linux /proc; empty elsewhere)."""
    found: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            found[int(entry.name)] = (parent, _identity(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _identity(entry: Path) -> bytes:
    """A process's command line and open files (Ray's agents retitle themselves but keep
    their session's log files open)."""
    names = [(entry / "cmdline").read_bytes()]
    try:
        for fd in (entry / "fd").iterdir():
            try:
                names.append(os.readlink(fd).encode())
            except OSError:
                continue
    except OSError:
        pass
    return b"\0".join(names)


def _descendants() -> set[int]:
    """The processes this one started, directly or not (Ray's GCS, raylet and workers)."""
    table = _processes()
    out: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - out
        out |= frontier
    return out


def _kill_leftovers(session: str | None, started: set[int]) -> None:
    """Kill what of the local Ray we started outlived ``ray.shutdown`` (none, normally)."""
    me = os.getpid()
    for pid, (_, cmdline) in _processes().items():
        ours = pid in started or (session is not None and session.encode() in cmdline)
        if ours and pid != me:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
