import pytest

from jupyter_mlops.core.options import OptionsError, check_paths, from_mapping, parse_magic_line


def test_full_option_set_parses():
    o = parse_magic_line(
        "--experiment churn --notebook nb.ipynb --root . --params lr,epochs --metrics auc,loss "
        "--data a.csv --data 'dir with space' --strict --no-mlflow"
    )
    assert o.experiment == "churn"
    assert o.params == ("lr", "epochs")
    assert o.metrics == ("auc", "loss")
    assert o.data == ("a.csv", "dir with space")
    assert o.strict and not o.mlflow and not o.off


def test_defaults_track_in_warn_mode_with_mlflow():
    o = parse_magic_line("")
    assert (o.strict, o.mlflow, o.off, o.params, o.data) == (False, True, False, (), ())


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--metrics", "expected one argument"),
        ("--metrics 'auc,not a name'", "not a name: not a name"),
        ("--params 1lr", "not a name: 1lr"),
        ("--experiment 'unterminated", "cannot read the options"),
    ],
)
def test_bad_lines_say_what_is_wrong_and_show_usage(line, says):
    with pytest.raises(OptionsError) as err:
        parse_magic_line(line)
    assert says in str(err.value)
    assert "usage: %mlops_track" in str(err.value) or "--params" in str(err.value)


def test_keyword_options_accept_lists_and_reject_unknown_names():
    assert from_mapping({"metrics": ["auc", "loss"], "data": "x.csv"}).data == ("x.csv",)
    with pytest.raises(OptionsError, match="unknown option"):
        from_mapping({"metric": "auc"})


def test_missing_paths_are_refused_before_anything_changes(tmp_path):
    (tmp_path / "ok.csv").write_text("a\n")
    check_paths(from_mapping({"data": ["ok.csv"]}), tmp_path)
    for opts, says in (({"data": ["nope.csv"]}, "--data nope.csv"), ({"root": "nowhere"}, "--root nowhere"),
                       ({"notebook": "x.ipynb"}, "--notebook x.ipynb")):
        with pytest.raises(OptionsError, match=says):
            check_paths(from_mapping(opts), tmp_path)


def test_a_second_start_joins_with_no_options_or_the_same_and_restarts_only_when_asked():
    from jupyter_mlops.core.options import OptionsDiffer, as_line, join_or_restart

    running = parse_magic_line("--experiment churn --metrics auc --no-mlflow").session
    assert join_or_restart(running, parse_magic_line(""), "s1") is False
    assert join_or_restart(running, parse_magic_line("--no-mlflow --metrics auc --experiment churn"), "s1") is False
    assert join_or_restart(running, parse_magic_line("--strict --restart"), "s1") is True
    with pytest.raises(OptionsDiffer) as refused:
        join_or_restart(running, parse_magic_line("--strict --metrics auc,loss"), "s1")
    message = str(refused.value)
    assert "tracking session s1 is already running" in message
    for change in ("--experiment none (now churn)", "--metrics auc,loss (now auc)", "--strict (now warn mode)",
                   "MLflow mirror on (now --no-mlflow)"):
        assert change in message
    assert "`%mlops_track --metrics auc,loss --strict --restart`" in message
    # the line said is a line the parser reads back to the same options
    line = as_line(parse_magic_line("--experiment 'my exp' --data 'a b.csv' --params lr --no-mlflow"))
    assert parse_magic_line(line.removeprefix("%mlops_track")).experiment == "my exp"


def test_secret_names_are_added_by_a_repeatable_option_or_a_keyword():
    assert parse_magic_line("--secret salt --secret pepper,api_pin").secrets == ("salt", "pepper", "api_pin")
    assert from_mapping({"secrets": ["salt"]}).secrets == ("salt",)
    with pytest.raises(OptionsError, match="not a name: my-salt"):
        parse_magic_line("--secret my-salt")
    # a start with another secret is another session's options: said as the flag, read back the same
    from jupyter_mlops.core.options import as_line, differences

    running, wanted = parse_magic_line(""), parse_magic_line("--secret salt,pepper")
    assert differences(running, wanted) == ["--secret salt,pepper (now none)"]
    assert parse_magic_line(as_line(wanted).removeprefix("%mlops_track")).secrets == ("salt", "pepper")
