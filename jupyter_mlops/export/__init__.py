"""A tracked notebook as a DVC pipeline of papermill stages (``export``), and its re-run check (``verify``).

Decisions are pure (``stages``, which asks ``core.analysis`` about each cell; ``dvcfile``, ``paramsfile``,
``compare``); reading the notebook and the journal, writing files and running papermill are thin edges
(``notebook``, ``observed``, ``api``, ``rerun``). ``handoff`` is imported by the generated stage notebooks
at run time.
"""
