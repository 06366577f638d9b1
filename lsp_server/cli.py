"""The ``superpose-ls`` command line (DESIGN.md section 2).

``serve`` (default) speaks LSP over stdio or TCP (loopback unless told
otherwise); ``complete`` runs one headless completion through the same engine
as the server; ``train`` (re)trains the shipped default model; ``bench`` runs
the benchmarks. Exit codes: 0 ok, 2 bad usage/input (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    """Bad usage or input: reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="superpose-ls", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="WARNING", help="python logging level")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    serve = sub.add_parser("serve", help="LSP over stdio (default) or TCP")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="TCP host (default loopback)")
    serve.add_argument("--port", type=int, default=2087, help="TCP port")

    complete = sub.add_parser("complete", help="complete FILE at a position and print drafts")
    complete.add_argument("file", type=Path)
    complete.add_argument("--line", type=int, required=True, help="0-based line")
    complete.add_argument("--character", type=int, required=True, help="0-based column")
    complete.add_argument("--drafts", type=int, default=None, help="k, number of drafts")
    complete.add_argument("--decoder", choices=("superposed", "greedy", "beam", "sampling"))
    complete.add_argument("--max-new-tokens", type=int, default=None)
    complete.add_argument("--no-monitor", action="store_true")
    complete.add_argument("--no-repetition-penalty", action="store_true")
    complete.add_argument("--no-ngram", action="store_true")
    complete.add_argument("--no-verify", action="store_true")
    complete.add_argument("--multiline", choices=("auto", "never", "always"))
    complete.add_argument("--model", default=None, help="'default' or a local HF model dir")
    complete.add_argument("--device", choices=("auto", "cpu", "cuda"))
    complete.add_argument("--json", action="store_true", help="print JSON")
    complete.add_argument(
        "--backend",
        default=None,
        help="'local' or the URL of a model service / OpenAI server "
        "(bearer token from $SUPERPOSE_BACKEND_TOKEN)",
    )

    server = sub.add_parser(
        "model-server", help="a shared model service on Ray Serve (pip install '.[serve]')"
    )
    server.add_argument("--host", default="127.0.0.1", help="HTTP host (default loopback)")
    server.add_argument("--port", type=int, default=8000, help="HTTP port")
    server.add_argument("--model", default="default", help="'default' or a local HF model dir")
    server.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    server.add_argument("--address", default=None, help="join this Ray cluster (default: local)")
    server.add_argument("--max-rows", type=int, default=64, help="batch rows per replica")
    server.add_argument("--replicas", type=int, default=1, help="model replicas")
    server.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="require this bearer token (also $SUPERPOSE_SERVICE_TOKEN)",
    )

    train = sub.add_parser("train", help="(re)train the shipped default model")
    train.add_argument("--checkpoint-dir", default="checkpoints/default")
    train.add_argument("--export-dir", default=None, help="where to write the model")
    train.add_argument("--steps", type=int, default=None, help="total optimizer steps")
    train.add_argument("--minutes", type=float, default=None, help="stop after this long")
    train.add_argument("--layers", type=int, default=None)
    train.add_argument("--width", type=int, default=None)
    train.add_argument("--threads", type=int, default=0)
    train.add_argument(
        "--corpus", choices=("stdlib", "extended"), default=None, help="training corpus"
    )
    train.add_argument("--lr", type=float, default=None, help="peak learning rate")
    train.add_argument("--warmup", type=int, default=None, help="warm-up steps")
    train.add_argument("--fim-mode", choices=("psm", "spm"), default=None, help="FIM sample layout")
    train.add_argument(
        "--fim-line-rate",
        type=float,
        default=None,
        help="share of FIM samples whose middle lies within one line",
    )
    train.add_argument(
        "--stage-start",
        type=int,
        default=None,
        help="step where a new warm-up + cosine starts (continue a finished run)",
    )
    train.add_argument(
        "--stdlib-repeats", type=int, default=None, help="copies of the stdlib split (extended)"
    )
    train.add_argument(
        "--package-cap",
        type=int,
        default=None,
        help="characters taken per site-packages entry (extended corpus)",
    )
    train.add_argument(
        "--checkpoint-minutes", type=float, default=None, help="checkpoint interval (minutes)"
    )
    train.add_argument(
        "--no-warm-start",
        action="store_true",
        help="without a checkpoint, train from scratch instead of continuing the exported model",
    )
    train.add_argument(
        "--nice", type=int, default=10, help="lower the process priority by this much (0: no)"
    )
    train.add_argument(
        "--compile", action="store_true", help="torch.compile the training step (faster)"
    )
    train.add_argument("--no-export", action="store_true", help="only update the checkpoint")
    train.add_argument(
        "--force-export", action="store_true", help="export even if not better than shipped"
    )

    bench = sub.add_parser("bench", help="run the benchmarks and write a report")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--model", default="default")
    bench.add_argument("--out", default="bench-out")

    calibrate = sub.add_parser(
        "calibrate", help="fit the ghost-text confidence of a model on held-out code"
    )
    calibrate.add_argument("--model", default="default")
    calibrate.add_argument("--positions", type=int, default=1200)
    calibrate.add_argument("--segments", type=int, default=16)
    calibrate.add_argument("--seed", type=int, default=0)
    calibrate.add_argument(
        "--max-wrong", type=float, default=8.0, help="wrong ghost texts per 100 keys allowed"
    )
    calibrate.add_argument("--dry-run", action="store_true", help="do not write superpose.json")
    calibrate.add_argument(
        "--rule",
        choices=("cost", "threshold"),
        default="cost",
        help="cost: show the prefix with the most expected keystrokes saved (default); "
        "threshold: one probability threshold for every prefix",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
        command = args.command or "serve"
        if command == "serve":
            return run_serve(
                getattr(args, "tcp", False),
                getattr(args, "host", "127.0.0.1"),
                getattr(args, "port", 2087),
            )
        if command == "complete":
            return run_complete(args)
        if command == "train":
            return run_train(args)
        if command == "calibrate":
            return run_calibrate(args)
        if command == "model-server":
            return run_model_server(args)
        return run_bench(args)
    except UsageError as exc:
        print(f"superpose-ls: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run_serve(tcp: bool, host: str, port: int) -> int:
    from lsp_server.server import server

    if tcp:
        if not 0 < port < 65536:
            raise UsageError(f"invalid port {port}")
        server.start_tcp(host, port)
    else:
        server.start_io()
    return EXIT_OK


def _settings_from_args(args: argparse.Namespace):
    from lsp_server.settings import Settings, merge_settings

    raw: dict = {}
    for key, value in (
        ("drafts", args.drafts),
        ("decoder", args.decoder),
        ("maxNewTokens", args.max_new_tokens),
        ("multiline", args.multiline),
        ("model", args.model),
        ("device", args.device),
        ("backend", getattr(args, "backend", None)),
    ):
        if value is not None:
            raw[key] = value
    for key, flag in (
        ("monitor", args.no_monitor),
        ("repetitionPenalty", args.no_repetition_penalty),
        ("ngram", args.no_ngram),
        ("verify", args.no_verify),
    ):
        if flag:
            raw[key] = False
    if raw.get("backend", "local") != "local" and os.environ.get("SUPERPOSE_BACKEND_TOKEN"):
        raw["backendToken"] = os.environ["SUPERPOSE_BACKEND_TOKEN"]
    settings, messages = merge_settings(Settings(), raw)
    if messages:
        raise UsageError(messages[0])
    return settings


def run_complete(args: argparse.Namespace) -> int:
    from lsp_server.positions import is_past_end, position_to_offset

    settings = _settings_from_args(args)
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text") from exc
    if args.line < 0 or args.character < 0 or is_past_end(text, args.line, args.character):
        raise UsageError(f"position {args.line}:{args.character} is past the end of {path}")
    # heavy imports only once the input is known to be good
    from lsp_server.engine import CompletionJob, Engine
    from models.loader import ModelLoadError, resolve_model_dir

    try:
        resolve_model_dir(settings.model)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc
    engine = Engine(settings, root=path.resolve().parent)
    uri = path.resolve().as_uri()
    engine.open_document(uri, text, None)
    try:
        engine.load()
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc
    if engine.state != "ready":  # a remote backend that cannot be reached
        raise UsageError(engine.error or f"model not ready ({engine.state})")
    for message in engine.messages:
        print(f"superpose-ls: warning: {message}", file=sys.stderr)
    offset = position_to_offset(text, args.line, args.character)
    result = engine.complete(CompletionJob(uri=uri, offset=offset, cancel=threading.Event()))
    if args.json:
        payload = {
            "drafts": [
                {
                    "text": d.text,
                    "score": d.score,
                    "rank": d.rank,
                    "finish": d.finish,
                    "stats": d.stats,
                }
                for d in result.drafts
            ],
            "timings": result.timings,
        }
        print(json.dumps(payload, indent=1))
    else:
        for d in result.drafts:
            print(f"--- draft {d.rank + 1} (score {d.score:.2f})")
            print(d.text)
        print(
            f"--- {len(result.drafts)} drafts in {result.timings.get('total_ms', 0):.0f} ms",
            file=sys.stderr,
        )
    return EXIT_OK


def run_model_server(args: argparse.Namespace) -> int:
    from lsp_server.serving.ray_app import TOKEN_ENV, RayMissing
    from lsp_server.serving.ray_app import run_model_server as serve_model

    if not 0 < args.port < 65536:
        raise UsageError(f"invalid port {args.port}")
    if args.max_rows < 1 or args.replicas < 1:
        raise UsageError("--max-rows and --replicas must be >= 1")
    token = os.environ.get(TOKEN_ENV) or None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UsageError(f"cannot read --token-file: {exc}") from exc
    from models.loader import ModelLoadError, resolve_model_dir

    try:
        resolve_model_dir(args.model)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc
    try:
        return serve_model(
            host=args.host,
            port=args.port,
            model=args.model,
            device=args.device,
            address=args.address,
            token=token,
            max_rows=args.max_rows,
            replicas=args.replicas,
        )
    except RayMissing as exc:
        raise UsageError(str(exc)) from exc


def run_train(args: argparse.Namespace) -> int:
    from models.training import TrainConfig, export_model, exported_heldout_loss, train

    logging.getLogger().setLevel(logging.INFO)
    if args.nice > 0 and hasattr(os, "nice"):
        os.nice(args.nice)  # training yields the CPU to the editor and other work
    cfg = TrainConfig(checkpoint_dir=args.checkpoint_dir)
    cfg.warm_start = not args.no_warm_start
    cfg.export_on_improve = not args.no_export
    cfg.compile = args.compile
    if args.threads:
        cfg.threads = args.threads
    if args.export_dir:
        cfg.export_dir = args.export_dir
    if args.steps:
        cfg.total_steps = args.steps
    if args.minutes:
        cfg.max_minutes = args.minutes
    if args.layers:
        cfg.n_layer = args.layers
    if args.width:
        cfg.n_embd = args.width
    for name, field in (
        ("corpus", "corpus"),
        ("lr", "lr"),
        ("warmup", "warmup_steps"),
        ("stage_start", "stage_start"),
        ("fim_line_rate", "fim_line_rate"),
        ("fim_mode", "fim_mode"),
        ("stdlib_repeats", "stdlib_repeats"),
        ("package_cap", "package_cap"),
        ("checkpoint_minutes", "checkpoint_minutes"),
    ):
        if getattr(args, name) is not None:
            setattr(cfg, field, getattr(args, name))
    final = train(cfg)
    shipped = exported_heldout_loss(Path(cfg.export_dir))
    loss = (final.get("heldout") or {}).get("loss", float("inf"))
    trained = (Path(cfg.checkpoint_dir) / "state.json").exists() or "step" not in final
    if args.no_export or not trained:
        pass
    elif args.force_export or shipped is None or loss < shipped:
        export_model(Path(cfg.checkpoint_dir), Path(cfg.export_dir), final)
    elif loss > shipped:  # (equal: this run's own evaluation was exported already)
        print(f"not exported: held-out loss {loss:.4f} >= shipped {shipped:.4f}", file=sys.stderr)
    print(json.dumps(final.get("heldout") or {}))
    return EXIT_OK


def run_calibrate(args: argparse.Namespace) -> int:
    from benchmarks.calibration import calibrate_from_args
    from models.loader import ModelLoadError, resolve_model_dir

    try:
        resolve_model_dir(args.model)
    except ModelLoadError as exc:
        raise UsageError(str(exc)) from exc
    result = calibrate_from_args(args)
    print(json.dumps(result["confidence"]))
    return EXIT_OK


BENCH_MODULES = ("matplotlib", "psutil", "jedi_language_server")


def run_bench(args: argparse.Namespace) -> int:
    missing = [name for name in BENCH_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"the benchmarks need {', '.join(missing)}: pip install 'superpose-ls[bench]'"
        )
    from benchmarks.report import run_report

    return run_report(quick=args.quick, model=args.model, out=Path(args.out))


if __name__ == "__main__":
    raise SystemExit(main())
