"""Pure engines: no IPython, no Tornado, no I/O beyond what a caller hands in.

The kernel, ``check``, ``export`` and the server all import from here; nothing here imports from them,
so the export (which must run without a kernel) never reaches into the kernel package.
"""
