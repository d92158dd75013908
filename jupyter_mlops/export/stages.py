"""Cutting a notebook into pipeline stages and working out what flows between them. Pure: no I/O.

A stage is a run of notebook cells: a ``stage:NAME`` tag starts one, or (``auto``) a markdown section, or a
cell that reads back a file an earlier cell of its section wrote. The tracking cell, the parameters cell
and the preamble's imports/settings are *shared*: every stage notebook carries them. Then, for each name a
stage uses but does not bind, the last binding before it decides: an import or def is copied in, a
parameter comes from ``params.yaml``, a value is handed over as a file by the last stage that bound or
changed it. Files flow as DVC deps and outs.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.core.analysis import FunctionInfo, analyze, file_paths, literal_assignments
from jupyter_mlops.core.notebook import Cell, Notebook
from jupyter_mlops.core.options import OptionsError, TrackOptions, parse_magic_line
from jupyter_mlops.core.redact import Redactor, environment_variable, holds_secret, looks_secret
from jupyter_mlops.errors import BadInput
from jupyter_mlops.export.layout import Layout, join, slug

MODES = ("auto", "tags", "single")


@dataclass(frozen=True)
class Observed:
    """What the journal saw one cell do in its latest run with the current code (paths root-relative)."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    logs_metrics: bool = False


@dataclass(frozen=True)
class HandOff:
    producer: str               # stage name
    folder: str                 # root-relative folder of the producer's hand-off files
    names: tuple[str, ...]


@dataclass(frozen=True)
class StagePlan:
    name: str
    title: str
    cells: tuple[int, ...]          # the notebook cells (code and markdown) this stage runs, in order
    setup_code: tuple[str, ...]     # imports/defs from earlier stages that this one needs
    loads: tuple[HandOff, ...]      # values handed over from earlier stages
    saves: tuple[str, ...]          # values this stage hands to later ones
    deps: tuple[str, ...]           # data files read (root-relative), outs of earlier stages included
    outs: tuple[str, ...]           # data files written
    params: tuple[str, ...]
    logs_metrics: bool
    secrets: tuple[str, ...] = ()   # secret params it uses, read from the environment


@dataclass(frozen=True)
class PipelinePlan:
    notebook: str                   # root-relative
    layout: Layout
    stages: tuple[StagePlan, ...]
    shared: tuple[int, ...]         # cells every stage notebook starts with (tracking, parameters, imports)
    tracking: int | None
    params: Mapping[str, Any]       # literal values of the parameters cell, in order, secrets left out
    notes: tuple[str, ...] = ()
    parameters: int | None = None   # the parameters cell
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret param → the environment variable it is read from


@dataclass
class _Group:
    title: str
    cells: list[Cell] = field(default_factory=list)
    name: str = ""

    @property
    def code(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "code"]


@dataclass
class _GroupFlow:
    needs: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    may_change: set[str] = field(default_factory=set)
    definitions: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    logs_metrics: bool = False
    # Paths the code seems to read that no file holds yet: a dependency when an earlier stage writes them.
    unresolved_reads: list[str] = field(default_factory=list)


def plan_pipeline(
    nb: Notebook, *, notebook: str, layout: Layout, mode: str = "auto",
    observed: Mapping[str, Observed] | None = None, declared: Sequence[str] = (),
    exists: Callable[[str], bool] = lambda path: True,
) -> PipelinePlan:
    """The stages of ``nb`` (at root-relative ``notebook``); ``observed`` maps cell ids to journal facts,
    ``declared`` is data the session declared with ``--data``, ``exists`` tells which root-relative paths
    exist (a statically found read that does not exist is a guess, not a dependency)."""
    if mode not in MODES:
        raise BadInput(f"--stages {mode}: expected one of {', '.join(MODES)}")
    observed = observed or {}
    notes: list[str] = []
    tracking = nb.tracking_cell
    parameters = nb.parameters_cell
    params, not_literal = literal_assignments(parameters.source) if parameters else ({}, [])
    if not_literal:
        notes.append(f"parameters {', '.join(not_literal)} are not plain values: left in the notebook, not in "
                     "params.yaml")
    options = _tracking_options(tracking)
    extra = options.secrets if options else ()
    secrets = {n: environment_variable(n) for n, v in params.items()
               if looks_secret(n, extra) or (isinstance(v, str) and holds_secret(v))}
    notes += [f"{name} looks like a secret: its value is kept out of params.yaml and the stage notebooks, which "
              f"read it from the environment variable {env} (set it where the pipeline runs)"
              for name, env in secrets.items()]
    notes += _secrets_in_code(nb, extra, {n: params[n] for n in secrets})
    flows = _cell_flows(nb, params)
    skipped = [c for c in nb.cells if c.is_skipped and c.kind == "code"]
    roles = {c.index for c in (tracking, parameters) if c is not None}
    shared, groups = _cut(nb, mode, flows, observed, notebook, roles)
    groups = _name_groups(groups, posixpath.splitext(posixpath.basename(notebook))[0], mode)
    shared_cells = sorted([c for c in (tracking, parameters) if c is not None] + shared, key=lambda c: c.index)
    watched = frozenset(options.metrics) if options else frozenset()
    group_flows = [_group_flow(g, flows, observed, notebook, layout, exists, watched) for g in groups]
    _resolve_upstream_reads(group_flows)
    _attach_declared(group_flows, declared, layout)
    shared_names = set(params)
    shared_needs: set[str] = set()
    for cell in shared_cells:
        shared_names |= flows[cell.index].binds
        shared_needs |= flows[cell.index].needs
    values = {k: v for k, v in params.items() if k not in secrets}
    stages = _stages(groups, group_flows, shared_needs, values, secrets, layout, notes)
    skipped_names = set().union(*(flows[c.index].binds for c in skipped))
    dangling = sorted(skipped_names & _unbound(group_flows, shared_names))
    if dangling:
        notes.append(f"{', '.join(dangling)} only defined in cells tagged skip/exploratory: the pipeline will "
                     "miss them")
    if tracking is None:
        notes.append("no %mlops_track cell: the stages write no metrics file and are not tracked")
    return PipelinePlan(notebook=notebook, layout=layout, stages=tuple(stages),
                        shared=tuple(c.index for c in shared_cells),
                        tracking=tracking.index if tracking else None, params=values, notes=tuple(notes),
                        parameters=parameters.index if parameters else None, secrets=secrets)


@dataclass(frozen=True)
class _CellFlow:
    """One code cell as the planner needs it, all of it asked of the one code analysis (``core.analysis``):
    what it needs from other cells, binds and may change (the functions it calls that earlier cells
    defined included), the definitions another stage can copy, and the files its code names."""

    needs: frozenset[str] = frozenset()
    binds: frozenset[str] = frozenset()
    may_change: frozenset[str] = frozenset()
    definitions: Mapping[str, str] = field(default_factory=dict)
    setup_only: bool = False
    known: bool = True  # False: a cell magic that is not Python, or a syntax error
    reads: tuple[str, ...] = ()  # file paths as written in the code
    writes: tuple[str, ...] = ()
    logs_metrics: bool = False


def _cell_flows(nb: Notebook, params: Mapping[str, Any]) -> dict[int, _CellFlow]:
    """Each code cell's flow; names holding a string (params, ``path = "..."``) resolve file paths."""
    strings = {k: v for k, v in params.items() if isinstance(v, str)}
    functions: dict[str, FunctionInfo] = {}
    flows: dict[int, _CellFlow] = {}
    for cell in nb.cells:
        if cell.kind != "code":
            continue
        effects = analyze(cell.source)
        called = [functions[name] for name in sorted(effects.called) if name in functions]
        reads, writes = file_paths(cell.source, strings)
        flows[cell.index] = _CellFlow(
            needs=effects.needs.union(*(f.reads for f in called)),
            binds=effects.binds.union(*(f.rebinds for f in called)),
            may_change=effects.may_change.union(*(f.mutates for f in called)),
            definitions=effects.definitions, setup_only=effects.setup_only, known=effects.known,
            reads=tuple(reads), writes=tuple(writes), logs_metrics=effects.logs_metrics,
        )
        functions.update({n: c.function for n, c in effects.changes.items() if c.function is not None})
        if not cell.is_parameters:
            values, _ = literal_assignments(cell.source)
            strings.update({k: v for k, v in values.items() if isinstance(v, str)})
    return flows


def _cut(
    nb: Notebook, mode: str, flows: Mapping[int, _CellFlow], observed: Mapping[str, Observed], notebook: str,
    roles: set[int],
) -> tuple[list[Cell], list[_Group]]:
    """Shared preamble cells and the groups of the rest, in notebook order."""
    tagged = any(c.stage_tag for c in nb.cells if c.kind == "code" and not c.is_skipped)
    by_tags = mode == "tags" or (mode == "auto" and tagged)
    level = None if by_tags or mode == "single" else _section_level(nb)
    groups: list[_Group] = [_Group("")]
    shared: list[Cell] = []
    seen_work = False
    pending_markdown: list[Cell] = []
    seen_tags: set[str] = set()
    for cell in nb.cells:
        if cell.is_skipped or cell.index in roles:
            continue
        heading = cell.heading
        if level is not None and heading and heading[0] <= level:
            groups.append(_Group(heading[1]))
        if cell.kind != "code":
            (groups[-1].cells if seen_work else pending_markdown).append(cell)
            continue
        tag = cell.stage_tag if by_tags else None
        if tag is not None and tag != groups[-1].title:
            if tag in seen_tags:
                raise BadInput(f"cells tagged stage:{tag} are not contiguous (another stage comes between)",
                               hint="stages run in notebook order: move each stage's cells together")
            seen_tags.add(tag)
            if groups[-1].title or groups[-1].code:
                groups.append(_Group(tag))
            else:  # untagged cells before the first tag belong to the first stage
                groups[-1].title = tag
        if not seen_work and _shareable(flows[cell.index]):
            shared.append(cell)
            continue
        if not seen_work:
            groups[-1].cells[:0] = pending_markdown
            seen_work = True
        groups[-1].cells.append(cell)
    groups = _merge_empty([g for g in groups if g.cells])
    if mode == "auto" and not by_tags:
        groups = [part for g in groups for part in _split_at_file_handoffs(g, flows, observed, notebook)]
    if mode == "single" or not groups:
        groups = [_Group("", [c for g in groups for c in g.cells])]
    return shared, groups


def _section_level(nb: Notebook) -> int | None:
    """The heading level that cuts sections: the shallowest one used at least twice (a lone ``#`` is a title)."""
    levels = [c.heading[0] for c in nb.cells if c.heading and not c.is_skipped]
    repeated = [lvl for lvl in sorted(set(levels)) if levels.count(lvl) >= 2]
    return repeated[0] if repeated else None


def _shareable(flow: _CellFlow) -> bool:
    """Imports, defs and settings (``pd.set_option``, seeds): cheap to run in every stage, never handed over."""
    if not flow.known:
        return False
    if flow.setup_only:
        return True
    return not (flow.binds - set(flow.definitions)) and not flow.reads and not flow.writes and not flow.logs_metrics


def _merge_empty(groups: list[_Group]) -> list[_Group]:
    """A section without code (prose only) joins the section after it, or the one before at the end."""
    out: list[_Group] = []
    carry: list[Cell] = []
    for group in groups:
        if not group.code:
            carry += group.cells
            continue
        group.cells[:0] = carry
        carry = []
        out.append(group)
    if carry and out:
        out[-1].cells += carry
    return out


def _split_at_file_handoffs(
    group: _Group, flows: Mapping[int, _CellFlow], observed: Mapping[str, Observed], notebook: str
) -> list[_Group]:
    """A cell reading back a file its own section wrote starts a new stage: the file is a natural boundary."""
    parts = [_Group(group.title)]
    written: set[str] = set()
    for cell in group.cells:
        if cell.kind == "code":
            reads, writes = _cell_files(cell, flows, observed, notebook)
            if written & set(reads) and parts[-1].code:
                parts.append(_Group(f"{group.title} {len(parts) + 1}".strip()))
                written = set()
            written |= set(writes)
        parts[-1].cells.append(cell)
    return parts


def _name_groups(groups: list[_Group], stem: str, mode: str) -> list[_Group]:
    base = slug(stem)
    if len(groups) == 1:
        groups[0].name = base
        return groups
    used: set[str] = set()
    for number, group in enumerate(groups, 1):
        name = f"{base}-{slug(group.title)}" if group.title else f"{base}-{number}"
        while name in used:
            name += f"-{number}"
        used.add(name)
        group.name = name
    return groups


def _secrets_in_code(nb: Notebook, extra: Sequence[str], secrets: Mapping[str, Any]) -> list[str]:
    """A note for each cell (the parameters cell aside) whose code holds a secret in clear: the stage
    notebooks copy the notebook's code as it is."""
    redactor = Redactor(extra)
    for value in secrets.values():
        redactor.learn(value)
    return [f"cell {cell.cell_id} holds a secret in clear (a secret's value, a password in a URL…): the stage "
            "notebooks copy it as it is; move it into the parameters cell, whose secrets export reads from the "
            "environment" for cell in nb.code_cells
            if not cell.is_parameters and not cell.is_skipped and redactor.code(cell.source) != cell.source]


def _tracking_options(tracking: Cell | None) -> TrackOptions | None:
    """The options of the tracking line (``--metrics``: variables whose assignment logs a metric;
    ``--secret``: more secret names); None without one, or when it cannot be read."""
    if tracking is None:
        return None
    for line in tracking.source.splitlines():
        stripped = line.strip()
        if stripped.startswith("%mlops_track"):
            try:
                return parse_magic_line(stripped[len("%mlops_track"):])
            except OptionsError:
                return None
    return None


def _cell_files(
    cell: Cell, flows: Mapping[int, _CellFlow], observed: Mapping[str, Observed], notebook: str
) -> tuple[list[str], list[str]]:
    """Root-relative files the cell reads and writes: the journal's record of its latest run with this code
    when there is one (one source of truth: ``dvc.yaml`` then says what the journal says), else what the
    code names."""
    seen = observed.get(cell.cell_id)
    if seen is not None:
        return list(dict.fromkeys(seen.reads)), list(dict.fromkeys(seen.writes))
    folder = posixpath.dirname(notebook)
    flow = flows[cell.index]
    reads = [p for p in (_root_path(folder, r) for r in flow.reads) if p]
    writes = [p for p in (_root_path(folder, w) for w in flow.writes) if p]
    return list(dict.fromkeys(reads)), list(dict.fromkeys(writes))


def _root_path(folder: str, path: str) -> str | None:
    """A path as the kernel (cwd = the notebook's folder) sees it, made root-relative; None outside the root."""
    if posixpath.isabs(path):
        return None
    rel = join(folder or ".", path)
    return None if rel == ".." or rel.startswith("../") else rel


def _group_flow(
    group: _Group, flows: Mapping[int, _CellFlow], observed: Mapping[str, Observed], notebook: str,
    layout: Layout, exists: Callable[[str], bool], watched: frozenset[str],
) -> _GroupFlow:
    out = _GroupFlow()
    for cell in group.code:
        flow = flows[cell.index]
        out.needs |= flow.needs - out.binds
        out.binds |= flow.binds
        out.may_change |= flow.may_change
        for name in flow.binds:
            out.definitions.pop(name, None)
        out.definitions.update(flow.definitions)
        seen = observed.get(cell.cell_id, Observed())
        out.logs_metrics |= seen.logs_metrics or flow.logs_metrics or bool(flow.binds & watched)
        reads, writes = _cell_files(cell, flows, observed, notebook)
        static_reads = {p for p in (_root_path(posixpath.dirname(notebook), r) for r in flow.reads) if p}
        for path in reads:
            if path == notebook or layout.generated(path) or path in out.writes or path in out.reads:
                continue
            if path in static_reads and path not in seen.reads and not exists(path):
                out.unresolved_reads.append(path)  # a guess from the code that names no existing file yet
                continue
            out.reads.append(path)
        out.writes += [p for p in writes if p not in out.writes and p != notebook and not layout.generated(p)]
    return out


def _resolve_upstream_reads(flows: list[_GroupFlow]) -> None:
    """A path the code names but no file holds yet is an input when an earlier stage writes it (a notebook
    exported before it ever ran, whose first stage makes the file the next one reads); else a guess dropped."""
    written: set[str] = set()
    for flow in flows:
        flow.reads += [p for p in flow.unresolved_reads if p in written and p not in flow.reads]
        written.update(flow.writes)


def _attach_declared(flows: list[_GroupFlow], declared: Sequence[str], layout: Layout) -> None:
    """Data declared with ``--data`` belongs to no cell: the first stage depends on it."""
    if flows:
        flows[0].reads += [p for p in declared if p not in flows[0].reads and not layout.generated(p)]


def _stages(
    groups: list[_Group], flows: list[_GroupFlow], shared_needs: set[str], params: Mapping[str, Any],
    secrets: Mapping[str, str], layout: Layout, notes: list[str],
) -> list[StagePlan]:
    saves: dict[int, set[str]] = {i: set() for i in range(len(groups))}
    loads: dict[int, dict[int, set[str]]] = {i: {} for i in range(len(groups))}
    setup: dict[int, dict[str, tuple[int, int]]] = {i: {} for i in range(len(groups))}  # text -> where it is
    stage_params: dict[int, set[str]] = {}
    stage_secrets: dict[int, set[str]] = {}
    for k, flow in enumerate(flows):
        needed = set(flow.needs)
        used = set(needed)
        done: set[str] = set()
        while needed:
            name = needed.pop()
            done.add(name)
            source = _provider(name, k, flows)
            if source is None:
                continue
            kind, g = source
            if kind == "setup":
                text = flows[g].definitions[name]
                if text not in setup[k]:
                    setup[k][text] = (g, list(flows[g].definitions.values()).index(text))
                    more = analyze(text).needs
                    used |= more
                    needed |= more - done - flow.binds
            else:
                saves[g].add(name)
                loads[k].setdefault(g, set()).add(name)
        stage_params[k] = (used | shared_needs) & set(params)
        stage_secrets[k] = (used | shared_needs) & set(secrets)
    writers: dict[str, int] = {}
    for k, flow in enumerate(flows):
        for path in flow.writes:
            if path in writers:
                notes.append(f"{path} is written by stages {groups[writers[path]].name} and {groups[k].name}: "
                             f"DVC allows one writer, so only {groups[k].name} lists it")
            writers[path] = k
    stages = []
    for k, (group, flow) in enumerate(zip(groups, flows, strict=True)):
        deps = []
        for path in flow.reads:
            writer = writers.get(path)
            if writer is not None and writer > k:
                notes.append(f"stage {group.name} reads {path}, which a later stage writes: not a dependency "
                             "(it would be a cycle); re-run the notebook top to bottom to check it")
                continue
            if writer == k:
                notes.append(f"stage {group.name} reads {path} before writing it: listed as an output only")
                continue
            deps.append(path)
        handoffs = tuple(HandOff(groups[g].name, layout.handoff(groups[g].name), tuple(sorted(names)))
                         for g, names in sorted(loads[k].items()))
        deps += [h.folder for h in handoffs]
        stages.append(StagePlan(
            name=group.name, title=group.title or group.name, cells=tuple(c.index for c in group.cells),
            setup_code=tuple(sorted(setup[k], key=setup[k].__getitem__)),  # notebook order: imports first
            loads=handoffs, saves=tuple(sorted(saves[k])),
            deps=tuple(dict.fromkeys(deps)), outs=tuple(p for p in flow.writes if writers[p] == k),
            params=tuple(p for p in params if p in stage_params[k]), logs_metrics=flow.logs_metrics,
            secrets=tuple(p for p in secrets if p in stage_secrets[k]),
        ))
    return stages


def _provider(name: str, k: int, flows: list[_GroupFlow]) -> tuple[str, int] | None:
    """Where stage ``k`` gets ``name``: ("setup", g) copy g's import/def; ("value", g) g hands it over."""
    binder = next((g for g in range(k - 1, -1, -1) if name in flows[g].binds), None)
    if binder is None:
        return None  # a parameter, a shared import, a builtin, or undefined: nothing to hand over
    if name in flows[binder].definitions:
        return "setup", binder
    changer = next(g for g in range(k - 1, binder - 1, -1) if name in flows[g].binds | flows[g].may_change)
    return "value", changer


def _unbound(flows: list[_GroupFlow], shared: set[str]) -> set[str]:
    """Names some stage uses that no earlier stage and no shared cell binds."""
    loose: set[str] = set()
    for k, flow in enumerate(flows):
        earlier = set().union(*(f.binds for f in flows[:k])) if k else set()
        loose |= flow.needs - earlier - shared
    return loose
