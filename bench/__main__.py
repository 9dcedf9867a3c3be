"""python -m bench [run] | generate --orders N [--url URL] | floor [--url URL] | export-probe --url URL --period P"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="python -m bench", description="物业业户服务管理系统 性能基准")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="generate what is missing and measure every figure (the default)")
    gen = sub.add_parser("generate", help="build a benchmark database")
    gen.add_argument("--orders", type=int, required=True)
    gen.add_argument("--url", help="database URL (default: by size, see bench/appctx.py)")
    gen.add_argument("--seed", type=int, default=2026)
    floor = sub.add_parser("floor", help="serve the floor endpoint (bare SQL) on 127.0.0.1")
    floor.add_argument("--url", required=True)
    floor.add_argument("--port", type=int, default=8099)
    probe = sub.add_parser("export-probe", help=argparse.SUPPRESS)
    probe.add_argument("--url", required=True)
    probe.add_argument("--period", required=True)
    args = parser.parse_args(argv)

    if args.command in (None, "run"):
        from bench.runner import run

        return run()
    if args.command == "generate":
        from bench.appctx import database_url
        from bench.generate import generate

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        for name in ("flask_appbuilder", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        meta = generate(args.url or database_url(args.orders), args.orders, args.seed)
        print(json.dumps(meta, ensure_ascii=False))
        return 0
    if args.command == "floor":
        from bench.floor import create_floor_app

        create_floor_app(args.url).run(host="127.0.0.1", port=args.port)
        return 0
    if args.command == "export-probe":
        from bench.measure import export_probe

        print(json.dumps(export_probe(args.url, args.period)))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
