"""
The formula's job runner (salt/arp_hygiene/files/arp-hygiene-job), on real
processes: what it keeps of a failing salt-call (one line), the report it
writes (never empty, replaced at once), its exit status, and --check.
"""

import importlib.machinery
import importlib.util
import json
import os
import sys

import pytest

from tests.support import REPO

RUNNER = os.path.join(REPO, "salt", "arp_hygiene", "files", "arp-hygiene-job")


@pytest.fixture(scope="module")
def runner():
    loader = importlib.machinery.SourceFileLoader("arp_hygiene_job", RUNNER)
    spec = importlib.util.spec_from_loader("arp_hygiene_job", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


# What salt-call prints on standard error when it fails, as it prints it.
INVALID = """/venv/lib/python3.11/site-packages/salt/utils/pycrypto.py:27: DeprecationWarning: 'crypt' is deprecated
  import crypt  # pylint: disable=deprecated-module

Passed invalid arguments: network namespace 'db' does not exist (`ip netns list` shows the named ones).

Usage:

    Delete the neighbour entries in the given NUD states (default: ``stale``)
"""
LOGGED = "[ERROR   ] Cannot flush neighbour entries: EPERM\nError running 'arp.flush_stale': EPERM\n"


@pytest.mark.parametrize(
    "stderr, line",
    [
        (
            INVALID,
            "Passed invalid arguments: network namespace 'db' does not exist (`ip netns list` shows the named ones).",
        ),
        ("'arp.flush_stale' is not available.\n", "'arp.flush_stale' is not available."),
        (LOGGED, "Error running 'arp.flush_stale': EPERM"),
        ("[ERROR   ] only a log line\n", "[ERROR   ] only a log line"),
        ("", "salt-call said nothing on standard error"),
    ],
)
def test_one_line_says_why_salt_call_failed(runner, stderr, line):
    assert runner.error_line(stderr, "") == line


def fake_salt_call(status, stdout="", stderr=""):
    """A command that prints and exits as salt-call would."""
    code = f"import sys; sys.stdout.write({stdout!r}); sys.stderr.write({stderr!r}); sys.exit({status})"
    return [sys.executable, "-c", code]


def test_a_good_run_replaces_the_report_at_once(runner, tmp_path):
    report = tmp_path / "report.json"
    report.write_text("the last run's\n")
    output = json.dumps({"local": {"deleted": {}, "vanished": {}}})

    status = runner.main(["--job", "j", "--report", str(report), "--", *fake_salt_call(0, output)])

    assert status == 0 and report.read_text() == output
    assert sorted(os.listdir(tmp_path)) == ["report.json"], "no temporary file left beside it"
    assert oct(report.stat().st_mode & 0o777) == "0o644"


def test_a_failed_run_writes_a_report_that_says_so_and_one_line(runner, tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text("the last run's\n")

    status = runner.main(["--job", "arp_hygiene-flush", "--report", str(report), "--", *fake_salt_call(1, "", INVALID)])

    assert status == 1
    written = json.loads(report.read_text())
    assert written["result"] is False and written["exit_status"] == 1 and written["job"] == "arp_hygiene-flush"
    assert written["error"].startswith("Passed invalid arguments: network namespace 'db' does not exist")
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("arp-hygiene: arp_hygiene-flush failed (exit status 1): Passed invalid arguments:")


def test_a_command_that_does_not_run_is_a_failure_too(runner, tmp_path, capsys):
    status = runner.main(["--job", "j", "--report", str(tmp_path / "r.json"), "--", "/nonexistent/salt-call"])
    assert status == 1
    assert "cannot run /nonexistent/salt-call: No such file or directory" in capsys.readouterr().err


def test_check_runs_the_command_in_test_mode_and_writes_no_report(runner, tmp_path, capsys):
    report = tmp_path / "r.json"
    echo = [sys.executable, "-c", "import sys; sys.exit(0 if sys.argv[1:] == ['a=1', 'test=true'] else 3)"]

    assert runner.main(["--job", "j", "--report", str(report), "--check", "--", *echo, "a=1", "test=false"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "changed": False,
        "comment": "j: its command runs (tried in test mode)",
    }
    assert not report.exists()

    assert runner.main(["--job", "j", "--check", "--", *fake_salt_call(1, "", "'arp.verify' is not available.\n")]) == 1
    said = json.loads(capsys.readouterr().out)
    assert said == {"changed": False, "comment": "j would fail on every run: 'arp.verify' is not available."}


def test_a_run_that_fails_before_the_module_writes_success_0_in_its_metrics(runner, tmp_path):
    # salt-call could not load the arp module: no metrics from it, so the runner writes them.
    failing = fake_salt_call(1, "", "'arp.flush_stale' is not available.\n")
    # The formula passes the directory as JSON (a quoted string).
    status = runner.main(["--job", "j", "--", *failing, "arp.flush_stale", f'metrics_dir="{tmp_path}"'])
    assert status == 1
    text = (tmp_path / "arp_hygiene_flush.prom").read_text()
    assert 'arp_hygiene_last_run_success{task="flush"} 0\n' in text
    assert "# TYPE arp_hygiene_last_run_timestamp_seconds gauge\n" in text
    assert os.listdir(tmp_path) == ["arp_hygiene_flush.prom"]


def test_metrics_the_module_wrote_during_the_run_are_kept(runner, tmp_path):
    path = tmp_path / "arp_hygiene_verify.prom"
    # The module wrote its own metrics (their error counts), then salt-call failed.
    writes = f"import sys; open({str(path)!r}, 'w').write('from the module\\n'); sys.exit(1)"
    status = runner.main(["--job", "j", "--", sys.executable, "-c", writes, "arp.verify", f"metrics_dir={tmp_path}"])
    assert status == 1
    assert path.read_text() == "from the module\n"
