"""``digest serve``: the output folder as a site on this machine, until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from digest.cli.arguments import Commands, path_value
from digest.cli.common import EXIT_OK, load_config, setup_logging

DEFAULT_PORT = 8000
DEFAULT_BIND = "127.0.0.1"


def port_value(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: any free one)")
    return int(text)


def add_parser(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the output folder on this machine: pages, feeds, search",
        description="Serve the site as a web server would: the right content types, "
        "precompressed files or gzip, nothing outside the output folder. Stops on Ctrl-C.",
    )
    serve.add_argument(
        "--config", "-c", type=path_value, help="config file (default: ./digest.toml if present)"
    )
    serve.add_argument("--out", type=path_value, help="output folder (overrides the config)")
    serve.add_argument(
        "--port",
        type=port_value,
        default=DEFAULT_PORT,
        help=f"the port (default {DEFAULT_PORT}; 0: any free one)",
    )
    serve.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        metavar="ADDRESS",
        help=f"the address to listen on (default {DEFAULT_BIND}, this machine only; "
        "0.0.0.0 or :: for every network)",
    )
    serve.add_argument("-v", "--verbose", action="count", default=0, help="log each request")
    serve.set_defaults(handler=cmd_serve, state=None)


def _stop(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    from digest.deliver import serve

    cfg = load_config(args)
    setup_logging(args.verbose, cfg.log_level)
    server = serve.make_server(cfg.output, args.bind, args.port)
    url = serve.url_of(server)
    print(f"serving {cfg.output} at {url} (Ctrl-C stops)", flush=True)
    if cfg.site_url != url and args.bind == DEFAULT_BIND:
        print(f"feeds and emails link to {cfg.site_url} (the config's url)", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        serve.serve(server)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return EXIT_OK
