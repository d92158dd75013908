"""What the code analysis knows about libraries, as data: one table per fact, nothing else here.

The analysis (``analysis.py``) is generic Python def/use; everything it knows about pandas, numpy,
scikit-learn, matplotlib or IPython comes from these tables, so teaching it a new library (a mutating
method, a reader that takes a path, a plot call) is one line here, not a change in two analyses. Names
are matched by the attribute or function name the code uses, since the analysis never imports anything.
"""

from __future__ import annotations

import builtins


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- IPython -----------------------------------------------------------------------------------------

# Names IPython puts in the user namespace; with ``_``, ``_5``, ``_i5``… (see analysis) never user state.
IPYTHON_NAMES = _words("In Out get_ipython exit quit display _ih _oh _dh")
# Builtins and IPython names: reading them reads nothing another cell made.
NOT_USER_STATE = frozenset(dir(builtins)) | IPYTHON_NAMES | {"__file__"}
# Cell magics whose body is Python run in the user namespace (``%%time``): analysed as Python.
PYTHON_CELL_MAGICS = _words("time capture prun")
# Line magics that may define names no cell shows.
DYNAMIC_MAGICS = ("%run", "%store", "%load", "%autoreload")

# -- how methods change their receiver ---------------------------------------------------------------

# In-place methods whose second application changes nothing (or raises before changing anything).
IDEMPOTENT_MUTATORS = _words(
    "clear update setdefault add discard sort set_params fill difference_update intersection_update compile "
    "train eval"
)
# Methods that replace what an estimator has learned with what they learn from their arguments, whatever it
# learned before: the last fit wins, so re-running an earlier fit after a later one leaves the earlier data's
# model (``model.fit(X, y)``, ``scaler.fit_transform(X)``). Its fitted attributes (``coef_``) read that state.
REFIT_METHODS = _words("fit fit_transform fit_predict")
FITTED = "<fit>"  # the key of that learned state among the receiver's parts
# In-place methods that change their receiver again each time they run.
UPDATE_MUTATORS = _words(
    "append extend insert pop popitem remove reverse appendleft extendleft rotate partial_fit "
    "symmetric_difference_update shuffle resize put itemset"
)
MUTATORS = IDEMPOTENT_MUTATORS | UPDATE_MUTATORS | REFIT_METHODS
# Methods that with ``inplace=True`` are idempotent; any other ``inplace=True`` call is an update.
IDEMPOTENT_INPLACE = _words(
    "dropna drop_duplicates fillna ffill bfill rename rename_axis sort_values sort_index drop "
    "set_index replace interpolate clip where mask set_axis query"
)
# Transformations f with f(f(x)) == f(x): re-running ``df = df.dropna()`` is a no-op.
IDEMPOTENT_METHODS = _words(
    "dropna drop_duplicates fillna ffill bfill astype rename rename_axis sort_values sort_index copy "
    "lower upper strip lstrip rstrip title casefold round abs clip drop query infer_objects "
    "convert_dtypes set_index replace interpolate head unique to_numpy tolist to_list squeeze reindex "
    "tz_localize tz_convert set_axis where mask filter select_dtypes"
)
IDEMPOTENT_FUNCTIONS = _words(
    "to_datetime to_numeric to_timedelta abs round clip unique sort sorted set frozenset nan_to_num "
    "ravel squeeze asarray"
)
# pandas accessors: ``df.name.str.lower()`` transforms ``df.name``.
ACCESSORS = _words("str dt cat")

# -- what attributes look at ----------------------------------------------------------------------

# Attributes that look at a whole object rather than one column/field of it.
WHOLE_OBJECT_ATTRIBUTES = _words(
    "shape columns index values dtypes dtype T size empty ndim loc iloc at iat array keys items plot "
    "style info memory_usage axes attrs flags nbytes"
)
# Attributes that depend on the rows only: adding or overwriting a column leaves them alone.
ROW_ATTRIBUTES = _words("shape index")

# -- modules, randomness, plots ------------------------------------------------------------------

# Calls that draw from numpy's global generator unless given a ``random_state`` (pandas' ``sample``,
# scikit-learn's splitters and dataset makers): after ``np.random.seed(…)`` every later draw depends on them.
GLOBAL_RANDOM_CALLS = _words(
    "sample train_test_split shuffle resample make_classification make_regression make_blobs make_moons "
    "make_circles make_gaussian_quantiles make_friedman1 make_friedman2 make_friedman3 make_s_curve "
    "make_swiss_roll make_sparse_spd_matrix make_spd_matrix make_low_rank_matrix make_sparse_uncorrelated "
    "make_multilabel_classification make_hastie_10_2 make_biclusters make_checkerboard"
)
RANDOM_STATE_KEYWORD = "random_state"

# Conventional module aliases: ``np.append(a, 1)`` is a function call, not a mutation of ``np``.
MODULE_ALIASES = _words("np numpy pd pandas plt sns os math torch tf scipy sp json pickle re sys shutil")
# ``np.random.default_rng(0)``, ``random.Random(1)``: a generator object, seeded by its arguments.
RNG_CONSTRUCTORS = _words("default_rng RandomState Generator Random")
# ``plt.subplots()``, ``sns.histplot(…)``: what they return draws; a re-run draws it again.
PLOT_MODULES = _words("plt sns px go alt pyplot matplotlib")
PLOT_CALLS = _words(
    "subplots figure subplot add_subplot twinx twiny plot hist scatter bar barh boxplot imshow "
    "heatmap histplot lineplot scatterplot barplot boxplot countplot pairplot jointplot FacetGrid"
)

# Methods that add artists to the figure or axes they are called on (``ax.plot(…)`` in a later cell draws a
# second line on every run), and the keyword that hands a library plot an existing axes (``df.plot(ax=ax)``).
DRAWING_METHODS = _words(
    "plot scatter bar barh hist hist2d imshow matshow pcolor pcolormesh contour contourf clabel fill "
    "fill_between fill_betweenx errorbar step stem pie boxplot violinplot hexbin quiver streamplot eventplot "
    "stackplot loglog semilogx semilogy vlines hlines axvline axhline axvspan axhspan axline text annotate "
    "arrow bar_label table add_patch add_artist add_line add_collection add_table add_subplot add_axes colorbar "
    "suptitle twinx twiny inset_axes secondary_xaxis secondary_yaxis"
)
DRAWN_ON_KEYWORD = "ax"

# -- files a call names ------------------------------------------------------------------------------

# Callables whose first argument is a file the call reads (``pd.read_csv(path)``, ``np.load(path)``).
FILE_READERS = _words(
    "read_csv read_parquet read_json read_excel read_table read_feather read_pickle read_hdf read_fwf "
    "read_orc read_stata read_sas read_spss read_ipc read_ndjson scan_csv scan_parquet scan_ipc "
    "scan_ndjson loadtxt genfromtxt fromfile imread load"
)
# Callables whose first argument is a file the call writes (``df.to_csv(path)``, ``plt.savefig(path)``).
FILE_WRITERS = _words(
    "to_csv to_parquet to_json to_excel to_pickle to_feather to_hdf to_stata to_orc write_csv "
    "write_parquet write_ipc write_json write_ndjson savefig save savez savez_compressed savetxt imwrite "
    "imsave"
)
# ``joblib.dump(value, path)``: the path is the second argument.
SECOND_ARGUMENT_WRITERS = _words("dump")
# pathlib: the receiver is the file (``Path("a.txt").read_text()``).
RECEIVER_READERS = _words("read_text read_bytes")
RECEIVER_WRITERS = _words("write_text write_bytes")
# Keyword names libraries give the path argument.
PATH_KEYWORDS = ("path", "path_or_buf", "filepath_or_buffer", "fname", "file", "filename", "io", "excel_writer",
                 "source")
# Calls that build a path from parts: ``Path("data", name)``, ``os.path.join(a, b)``.
PATH_BUILDERS = _words("Path PurePath PosixPath join")

# -- metrics -----------------------------------------------------------------------------------------

# Calls that log a metric (MLflow's and ours): a stage whose cells make them writes the metrics file.
METRIC_LOGGERS = _words("log_metric log_metrics")
