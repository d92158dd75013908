"""Where a tracked session is mirrored besides the journal: MLflow.

The kernel's side is ``mlflow.py``, a plug-in of the session (``kernel/plugins.py``): it subscribes the
session and returns at once; the mirroring itself is the follower process's (``follower.py``), which reads
the journal.
"""
