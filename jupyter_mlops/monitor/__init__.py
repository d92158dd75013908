"""Monitoring: a statistical profile of every tabular input and named DataFrame, and drift between them.

``profile.py`` (the statistics, numpy only), ``tables.py`` (a bounded, seeded sample of a CSV or parquet
file, pyarrow), ``drift.py`` (PSI per column, a verdict per input), ``profiler.py`` (the process that
profiles the files sessions read, cached by md5), ``sink.py`` (the kernel's side: start the profiler,
profile ``--profile`` frames in a background thread), ``mlflow_log.py`` (profiles to MLflow),
``drift_cli.py`` (``jupyter mlops drift``).
"""
