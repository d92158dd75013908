"""``jupyter mlops serve NAME@ALIAS``: serve a registered version with MLflow's scoring app, monitored.

The door only: arguments in, ``serving/server.py`` does the work, the banner out. See ``serving/__init__.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_mlops.commands.arguments import Subparsers, add_root, open_project
from jupyter_mlops.errors import BadInput


def register(sub: Subparsers) -> None:
    p = sub.add_parser("serve", help="serve a registered model version with MLflow's scoring app, plus "
                                     "/metrics (Prometheus), drift against its training data and /feedback")
    p.add_argument("model", metavar="MODEL", help="NAME@ALIAS, NAME/VERSION, NAME (latest version) or models:/…")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    w = p.add_argument_group("the monitoring window")
    w.add_argument("--window", type=int, default=10_000, metavar="ROWS",
                   help="statistics and drift cover the last ROWS scored rows (default 10000)")
    w.add_argument("--sample", type=int, default=2_000, metavar="ROWS",
                   help="...computed on a seeded reservoir sample of at most ROWS of them (default 2000)")
    w.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    p.add_argument("--max-body-mb", type=float, default=32.0, metavar="MB",
                   help="larger request bodies are refused with 413 (default 32)")
    p.add_argument("--no-request-id-field", dest="request_id_field", action="store_false",
                   help="keep prediction bodies byte-identical to MLflow's (the id stays in X-Request-Id)")
    p.add_argument("--access-log", action="store_true", help="log every request, as `mlflow models serve` does")
    o = p.add_argument_group("operations files (--write-monitoring)")
    o.add_argument("--write-monitoring", metavar="DIR", type=Path,
                   help="write a Prometheus scrape config, alert rules and a Grafana dashboard for this server")
    o.add_argument("--scrape-interval", default="15s", help="Prometheus scrape and rule evaluation interval")
    o.add_argument("--alert-for", default="5m", help="how long a condition holds before its alert fires")
    o.add_argument("--no-traffic-minutes", type=int, default=15, help="alert after this long without a request")
    o.add_argument("--p99-seconds", type=float, default=0.5, help="alert above this p99 latency of /invocations")
    o.add_argument("--error-rate", type=float, default=0.05, help="alert above this share of failed requests")
    p.add_argument("--to", metavar="URI", help="tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                               "sqlite:///<root>/mlflow.db)")
    add_root(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jupyter_mlops.serving import monitoring_files
    from jupyter_mlops.serving.server import ServeOptions, open_server

    if not 0 < args.port < 65536:
        raise BadInput(f"--port {args.port}: expected 1-65535")
    if args.window < 1 or args.sample < 1 or args.max_body_mb <= 0:
        raise BadInput("--window, --sample and --max-body-mb must be positive")
    settings = monitoring_files.MonitoringSettings(args.scrape_interval, args.alert_for, args.no_traffic_minutes,
                                                   args.p99_seconds, args.error_rate)
    try:
        settings.check()
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    root = open_project(args).root
    options = ServeOptions(host=args.host, port=args.port, window_rows=args.window, sample_rows=args.sample,
                           seed=args.seed, max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                           request_id_field=args.request_id_field, access_log=args.access_log,
                           tracking_uri=args.to)
    server = open_server(root, args.model, options)
    for line in server.banner():
        print(line, flush=True)
    if args.write_monitoring:
        host = f"[{args.host}]" if ":" in args.host else args.host
        written = monitoring_files.write(args.write_monitoring, f"{host}:{args.port}", settings)
        print(f"monitoring files: {', '.join(str(p) for p in written)}", flush=True)
    server.run()
    return 0
