"""Sweeps (``jupyter mlops sweep``): a grid (or a random sample) of params run as DVC's queued experiments.

``identity`` (what names a sweep and its experiments; the only part the kernel imports), ``grid`` (the
combinations), ``queue`` (DVC's experiment queue as a command), ``watch`` (progress and the stuck-queue
verdict), ``results`` (the table), ``record`` (what a sweep asked, in ``.mlops/sweeps/``), ``run`` (queue,
follow, tabulate, apply: what the command, ``commands/sweep.py``, and the server call).
"""
