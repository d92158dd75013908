import json

from jupyter_mlops.sweep import identity


def test_experiment_names_carry_their_sweep_and_sort_in_queueing_order():
    sweep = identity.new_sweep_id()
    assert identity.is_sweep_id(sweep) and not identity.is_sweep_id("sweep-xyz")
    names = [identity.experiment_name(sweep, i, 12) for i in (1, 2, 10)]
    assert names == sorted(names) and names[0] == f"{sweep}-01"
    assert {identity.sweep_of(n) for n in names} == {sweep}
    assert identity.sweep_of("gusty-pawl") is None and identity.sweep_of(None) is None
    assert identity.sweep_of(f"{sweep}-x") is None


def test_a_session_run_by_a_sweeps_experiment_records_both_and_tags_its_mlflow_run():
    options = identity.session_options({"DVC_EXP_NAME": "sweep-0a1b2c-3"})
    assert options == {"dvc_experiment": "sweep-0a1b2c-3", "sweep": "sweep-0a1b2c"}
    assert identity.mlflow_tags(json.dumps({"strict": False, **options})) == {
        identity.EXPERIMENT_TAG: "sweep-0a1b2c-3", identity.SWEEP_TAG: "sweep-0a1b2c"}
    assert identity.session_options({"DVC_EXP_NAME": "gusty-pawl"}) == {"dvc_experiment": "gusty-pawl"}
    assert identity.session_options({}) == {} and identity.mlflow_tags('{"strict": false}') == {}
