"""gunicorn entry point for the concurrent-load figure: the application on BENCH_DATABASE_URL."""

import os
import warnings

from bench.appctx import bench_app

warnings.filterwarnings("ignore")
app = bench_app(os.environ["BENCH_DATABASE_URL"])
