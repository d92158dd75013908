"""``jupyter mlops …``: the command line, one module per subcommand (one file each: ``runs.py`` is
``jupyter mlops runs``).

A command module is a door: it declares its arguments (``register``, composed from ``arguments.py``), opens
the project (``arguments.open_project``), calls the operation that lives beside its feature (``journal.py``,
``sinks/registration.py``, ``sweep/run.py``…) and prints. It holds no logic another door would need: the
server calls the same operations, never a command. ``main.py`` holds the one command list and turns errors
into exit codes; nothing else imports a command module, and no module outside this package imports
``argparse`` but the kernel's own door, the ``%mlops_track`` line's parser (``core/options.py``).
"""
