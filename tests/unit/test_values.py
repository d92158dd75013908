import math

import numpy as np
import pytest

from jupyter_mlops.core.redact import REDACTED
from jupyter_mlops.kernel.values import (
    assigned_names,
    metric_value,
    param_value,
)


@pytest.mark.parametrize("name", ["api_token", "DB_PASSWORD", "secret", "aws_secret_access_key", "key",
                                  "openai_api_key", "credentials"])
def test_secret_looking_params_are_redacted(name):
    assert param_value(name, "hunter2") == REDACTED


@pytest.mark.parametrize("name", ["lr", "keyboard_layout", "n_estimators", "monkey"])
def test_ordinary_params_are_kept(name):
    assert param_value(name, 0.1) == 0.1


def test_param_values_become_json_safe():
    assert param_value("n", np.int64(3)) == 3 and isinstance(param_value("n", np.int64(3)), int)
    assert param_value("x", float("nan")) == "nan"
    assert param_value("cfg", {"depth": 3, "token": "abc"}) == {"depth": 3, "token": REDACTED}
    assert param_value("obj", object()).startswith("<object object")
    assert len(param_value("big", "x" * 10)) == 10
    assert param_value("long", list(range(1000))).startswith("[0, 1, 2")


def test_metric_values_are_numbers_or_refused():
    assert metric_value(np.float32(0.5)) == 0.5
    assert metric_value(np.array(2.0)) == 2.0
    assert math.isnan(metric_value(float("nan")))
    for bad in ("high", True, [1.0], np.array([1.0, 2.0])):
        with pytest.raises(TypeError, match="must be a number"):
            metric_value(bad)


def test_parameters_cell_names_in_order():
    code = "# tuned\nlr = 0.1\nepochs: int = 10\na, b = 1, 2\nprint(lr)\nlr = 0.2\n"
    assert assigned_names(code) == ["lr", "epochs", "a", "b"]
    assert assigned_names("def (") == []
