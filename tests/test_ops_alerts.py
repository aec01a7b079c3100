"""The alert rules in ops/prometheus/: valid for Prometheus (promtool), firing at the targets
(promtool's rule unit tests), and about metrics the app really exposes."""

import re
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import REPO_ROOT

RULES = REPO_ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO_ROOT / "ops" / "prometheus" / "alerts_test.yml"
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def promtool(*args):
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (Debian's package; .ci/run installs it)"
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120)


def test_rules_pass_promtool_check_and_their_unit_tests():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_target_has_its_alert():
    text = RULES.read_text()
    for alert in (
        "PaymentSuccessBelowTarget",
        "WebhookDeliveryBelowTarget",
        "ApiLatencyP95AboveTarget",
        "ErrorRateAboveTarget",
        "PaymentFailureSpike",
        "WebhookFailureSpike",
        "DatabasePoolNearlyExhausted",
        "DatabasePoolExhausted",
    ):
        assert f"alert: {alert}\n" in text
    for threshold in ("< 0.98", "< 0.99", "> 0.5", "> 0.01", "> 0.9"):
        assert threshold in text


def test_rules_only_name_metrics_the_app_exposes(client):
    exposed = set()
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        exposed.add(family.name)
    named = set(re.findall(r"\b(tradepost_[a-z_]+)", RULES.read_text())) - {"tradepost_"}
    unknown = set()
    for name in named:
        base = name
        for suffix in SUFFIXES:
            base = base.removesuffix(suffix)
        if base not in exposed and name not in exposed:
            unknown.add(name)
    assert not unknown, f"alerts.yml names metrics /metrics does not expose: {sorted(unknown)}"
