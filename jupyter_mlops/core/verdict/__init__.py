"""Is the kernel's state what "Restart kernel and run all" would give? The verdict engine, one question a module.

* ``model.py``: what a verdict is (``Execution`` in, ``Verdict`` of ``Issue``s out, the issue ``KINDS``);
* ``simulation.py``: what running the notebook top to bottom would make (provenances and the symbolic run);
* ``judge.py``: whether the session's state differs from that, why, and the smallest fix;
* ``detector.py``: the incremental engine the kernel and ``check`` call (``record``, ``verdict``, ``preflight``).

Each imports only those above it (``judge.py`` names the detector for type checking only). Pure: no I/O, no
IPython.
"""
