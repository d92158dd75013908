"""Values one stage hands to the next, as files: imported by the generated stage notebooks at run time.

The format follows the value, decided when it is saved (export cannot know types before anything runs):
DataFrames as parquet when pyarrow is importable (columnar, readable by any tool), NumPy arrays as
``.npy``, anything else with joblib (pickle when joblib is missing). The loader finds the file by name,
so a stage's folder is the only path ``dvc.yaml`` needs.
"""

from __future__ import annotations

import importlib.util
import pickle
import shutil
from pathlib import Path
from typing import Any


def save(folder: str | Path, **values: Any) -> None:
    """Write each value to ``folder/NAME.<ext>``; the folder holds exactly these values afterwards."""
    target = Path(folder)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, value in values.items():
        _save_one(target, name, value)


def load(folder: str | Path, *names: str) -> Any:
    """The values saved under ``names``: one value for one name, else a tuple in the order asked."""
    values = tuple(_load_one(Path(folder), name) for name in names)
    return values[0] if len(values) == 1 else values


def _save_one(folder: Path, name: str, value: Any) -> None:
    if _is_dataframe(value) and importlib.util.find_spec("pyarrow") is not None:
        path = folder / f"{name}.parquet"
        try:
            value.to_parquet(path)
            return
        except Exception:  # e.g. non-string column names: joblib/pickle keep them exactly
            path.unlink(missing_ok=True)
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray" and value.dtype != object:
        import numpy as np

        path = folder / f"{name}.npy"
        np.save(path, value, allow_pickle=False)
        return
    if importlib.util.find_spec("joblib") is not None:
        import joblib

        path = folder / f"{name}.joblib"
        joblib.dump(value, path)
        return
    path = folder / f"{name}.pkl"
    with open(path, "wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)


def _load_one(folder: Path, name: str) -> Any:
    found = sorted(p for p in folder.glob(f"{name}.*") if p.stem == name)
    if not found:
        raise FileNotFoundError(
            f"{folder / name}.*: the stage that hands over {name!r} has not run; run `dvc repro`, which runs "
            "stages in order"
        )
    path = found[0]
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path)
    if path.suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    with open(path, "rb") as f:
        return pickle.load(f)


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")
