"""Task 12.4: the autoscaling bounds, from the settings, in the form Ray Serve takes — and Ray scaling within them.

The last check reads the shared run on Ray (conftest.py): the service deployed with your bounds, a bounded load
put on it, and its replicas (running, or starting: the autoscaler's decision is what your bounds set) counted
before the load, under it until they reached the maximum, then after it until they were back to the minimum.
"""

from __future__ import annotations

import pytest

from checks.lab12.ray_harness import AUTOSCALE_CLIENTS, AUTOSCALED_BOUNDS, REACTION
from checks.lab12.runs import LOCAL_CHECK_TIMEOUT, RAY_CHECK_TIMEOUT, finished
from workbook.checkkit.checking import raises
from workbook.checkkit.student import lab_attr

CASES = [(1, 4, 2.0), (2, 6, 5.0), (0, 1, 0.5), (3, 3, 1.0)]  # the last: equal bounds, a fixed number of replicas

# Importing Ray and the lab takes seconds on a busy machine: more than the default 10 s for a check.
pytestmark = pytest.mark.timeout(LOCAL_CHECK_TIMEOUT)


@pytest.mark.task("12.4", points=2)
def test_autoscaling_config_follows_the_settings(serving, settings_class, model_dir):
    from ray.serve.config import AutoscalingConfig

    for low, high, target in CASES:
        settings = settings_class(
            model_dir=model_dir, min_replicas=low, max_replicas=high, target_ongoing_requests=target
        )
        try:
            config = lab_attr(serving, "autoscaling_config")(settings)
        except ValueError as exc:
            pytest.fail(
                f"autoscaling_config(settings) with min_replicas={low} and max_replicas={high} raised ValueError({exc}); "
                "only a minimum *above* the maximum makes no sense (equal bounds keep a fixed number of replicas).",
                pytrace=False,
            )
        expected = {"min_replicas": low, "max_replicas": high, "target_ongoing_requests": target}
        assert isinstance(config, dict) and {key: config.get(key) for key in expected} == expected, (
            f"autoscaling_config(settings) with min_replicas={low}, max_replicas={high}, "
            f"target_ongoing_requests={target} should give {expected}; it gave {config!r}."
        )
        try:
            AutoscalingConfig(**config)
        except Exception as exc:  # noqa: BLE001 - any refusal by Ray is the student's to read
            pytest.fail(f"Ray Serve refuses autoscaling_config's {config!r}: {exc}", pytrace=False)


@pytest.mark.task("12.4", points=1)
def test_autoscaling_config_refuses_a_minimum_above_the_maximum(serving, settings_class, model_dir):
    settings = settings_class(model_dir=model_dir, min_replicas=5, max_replicas=2)
    with raises(ValueError, "autoscaling_config(settings) with min_replicas=5 and max_replicas=2"):
        lab_attr(serving, "autoscaling_config")(settings)


@pytest.mark.task("12.4", points=3)
@pytest.mark.needs("12.1", "12.3")
@pytest.mark.timeout(RAY_CHECK_TIMEOUT)
def test_replicas_grow_under_load_and_shrink_after(serving, settings_class, model_dir, ray_run):
    bounds = {key: AUTOSCALED_BOUNDS[key] for key in ("min_replicas", "max_replicas", "target_ongoing_requests")}
    lab_attr(serving, "autoscaling_config")(settings_class(model_dir=model_dir, **bounds))
    run = finished(ray_run, through="autoscaling")
    low, high = bounds["min_replicas"], bounds["max_replicas"]
    scaling = run.report.get("autoscaling", {})
    deployed = (
        f"Your service was deployed a second time with autoscaling_config(settings) for min_replicas={low}, "
        f"max_replicas={high}, target_ongoing_requests={bounds['target_ongoing_requests']} (the check shortens only "
        f"Ray's reaction delays: {REACTION})"
    )
    assert not scaling.get("error"), f"{deployed}, but it did not run:\n{scaling.get('error', '')[-2000:]}"
    counts = " → ".join(f"{count} ({phase} {seconds:g} s)" for seconds, phase, count in compress(scaling["samples"]))
    told = f"{deployed}; its replicas (running or starting) counted before, under and after the load: {counts}."
    assert scaling["started_with"] == low, f"{told} It should start with min_replicas = {low} replica(s)."
    assert scaling["grew_to"] == high, (
        f"{told} Under a load of {AUTOSCALE_CLIENTS} clients it should grow to max_replicas = {high}, and never beyond; "
        f"it reached {scaling['grew_to']}."
    )
    assert max(count for _, _, count in scaling["samples"]) <= high, f"{told} It went beyond max_replicas = {high}."
    assert scaling["shrank_to"] == low, (
        f"{told} Once the load stops it should shrink back to min_replicas = {low}; it stayed at {scaling['shrank_to']}."
    )
    failed = {status: n for status, n in scaling["statuses"].items() if status != "200"}
    assert not failed, f"{told} Every request of the load should be answered with 200; these were not: {failed}."


def compress(samples: list) -> list:
    """The samples where the count or the phase changed (and the last): a timeline a student can read."""
    kept = [sample for i, sample in enumerate(samples) if i == 0 or sample[1:] != samples[i - 1][1:]]
    return kept if kept[-1] is samples[-1] else [*kept, samples[-1]]
