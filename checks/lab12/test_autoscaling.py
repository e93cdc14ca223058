"""Task 12.4: the autoscaling bounds, from the settings, in the form Ray Serve takes."""

from __future__ import annotations

import pytest

from checks.lab12.runs import LOCAL_CHECK_TIMEOUT
from workbook.checkkit.checking import raises
from workbook.checkkit.student import lab_attr

CASES = [(1, 4, 2.0), (2, 6, 5.0), (0, 1, 0.5)]

# Importing Ray and the lab takes seconds on a busy machine: more than the default 10 s for a check.
pytestmark = pytest.mark.timeout(LOCAL_CHECK_TIMEOUT)


@pytest.mark.task("12.4", points=2)
def test_autoscaling_config_follows_the_settings(serving, settings_class, model_dir):
    from ray.serve.config import AutoscalingConfig

    for low, high, target in CASES:
        settings = settings_class(
            model_dir=model_dir, min_replicas=low, max_replicas=high, target_ongoing_requests=target
        )
        config = lab_attr(serving, "autoscaling_config")(settings)
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
