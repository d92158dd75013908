"""``jupyter mlops serve``: a registered model version served by MLflow's own scoring app, watched.

MLflow's FastAPI app (``mlflow.pyfunc.scoring_server.init``) answers ``/invocations``, ``/ping``, ``/health``
and ``/version`` exactly as ``mlflow models serve`` does; ``app.py`` wraps it (an ASGI layer and a proxy of
the model it calls) with request ids, ``/metrics``, ``/feedback`` and ``/monitoring``. What each module
answers:

* ``target.py``: which version a reference names, and loading it (errors that say what to run next);
* ``reference.py``: the version's training data as the drift reference of each model input;
* ``window.py``: the sliding window of scored rows, a bounded seeded reservoir sample per slice;
* ``statistics.py``: the window's MLWatcher statistics and its drift (``monitor/drift.py``, the one engine);
* ``feedback.py``: true labels by request id, turned into accuracy, AUC and the rate of each class;
* ``metrics.py``: the Prometheus metrics (``prometheus-client``), labelled with model and version;
* ``monitor.py``: the background thread that keeps all of that off the request's path;
* ``state.py``: ``.mlops/serving/``: the window kept across restarts, the running servers for the panel;
* ``monitoring_files.py``: the Prometheus scrape config, alert rules and Grafana dashboard;
* ``live.py``: a live window read back (over HTTP or from ``.mlops/serving/``) for ``drift --live``;
* ``server.py``: all of it put together, checked before the port is bound, run under uvicorn;
* ``serve_cli.py``: the command.

Nothing here is imported by the kernel.
"""
