"""``jupyter mlops sweep``: a grid (or a random sample) of params run as DVC's queued experiments.

``identity`` (what names a sweep and its experiments; the only part the kernel imports), ``grid`` (the
combinations), ``queue`` (DVC's experiment queue as a command), ``watch`` (progress and the stuck-queue
verdict), ``results`` (the table), ``cli`` (the command).
"""
