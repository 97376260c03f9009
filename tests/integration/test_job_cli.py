"""``zhongli job run`` against a real zone: ``--wait``'s exit status tells a failed job, a refused
release and one awaiting approval apart; ``--params`` takes inline JSON, ``@FILE`` and ``@-``, and
its mistakes are one ``zhongli: --params: ...`` line, never a traceback (issue 11)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import cli
from deploy.job_cli import (
    EXIT_AWAITING_APPROVAL,
    EXIT_EXPIRED,
    EXIT_FAILED,
    EXIT_REFUSED,
    exit_code,
    read_params,
)
from protocols.errors import ZhongliError
from tests.integration.live import LiveWorld, open_and_settle, small_world, state_of

ROOT = Path(__file__).resolve().parents[2]
PARTIES = ["oem", "media-a", "provider"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_world(tmp_path_factory.mktemp("job-cli"))


def _run(
    w: LiveWorld, sid: str, job: str, params: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    topo = str(w.dir / "topology.yaml")
    code = cli.main(["job", "run", sid, job, "--params", params, "--wait", "--topology", topo, "--as", "oem"])
    out, err = capsys.readouterr()
    return code, out, err


def test_wait_exit_status_says_how_the_job_went(world: Path, live, capsys, tmp_path: Path) -> None:
    w = live(world)
    sid, resp = open_and_settle(w.client("oem"), PARTIES)
    assert state_of(resp) == "ready", resp.error

    code, out, err = _run(w, sid, "lead_rating_train", '{"label": "nope"}', capsys)
    rid = out.splitlines()[0]
    assert code == EXIT_FAILED == 3
    assert err.strip().splitlines()[-1] == f"release {rid}: failed (exit 3)"

    refused = {"segment": {"segment": ["a", "b", "c"]}, "recipient": "media-a"}  # profile: requester only
    code, out, err = _run(w, sid, "profile", json.dumps(refused), capsys)
    assert code == EXIT_REFUSED == 4
    assert (
        err.strip().splitlines()[-1]
        == f"release {out.splitlines()[0]}: refused by the gate's checks (exit 4)"
    )

    # A 300 KB parameter (a sealed model's size) from a file: no "Argument list too long".
    big = tmp_path / "sealed.json"
    big.write_text(json.dumps({"sealed": "A" * 300_000}))
    code, out, err = _run(w, sid, "lead_rating_score", f"@{big}", capsys)
    assert code == EXIT_FAILED, err  # read and sent whole; the zone cannot open it as a sealed model

    code, out, err = _run(w, sid, "intersection_stats", "{}", capsys)
    rid = out.splitlines()[0]
    assert code == EXIT_AWAITING_APPROVAL == 5
    assert err.strip().splitlines()[-1] == (
        f"release {rid}: computed, awaiting the auditors' approval (`zhongli audit approve`) (exit 5)"
    )
    assert json.loads(out[len(rid) + 1 :])["status"] == "pending"

    # From standard input, and the zone still serves after every mistake above.
    sys_stdin = sys.stdin
    sys.stdin = io.StringIO('{"parties": ["oem", "media-a"]}')
    try:
        code, out, _ = _run(w, sid, "intersection_stats", "@-", capsys)
    finally:
        sys.stdin = sys_stdin
    assert code == EXIT_AWAITING_APPROVAL


def test_params_mistakes_are_one_line_before_any_connection(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "label": "x",\n  oops\n}\n')
    missing = tmp_path / "nope.json"
    cases = [
        (
            f"@{bad}",
            "zhongli: --params: invalid JSON at line 3 column 3: Expecting property name enclosed in double quotes",
        ),
        ('{"label": }', "zhongli: --params: invalid JSON at line 1 column 11: Expecting value"),
        (f"@{missing}", f"zhongli: --params: file '{missing}' does not exist"),
        (f"@{tmp_path}", f"zhongli: --params: '{tmp_path}' is a directory, not a JSON file"),
        ("[1, 2]", "zhongli: --params: the job's parameters must be a JSON object ({...}), not an array"),
        ("@", "zhongli: --params: give a file after '@' (e.g. --params @params.json, or @- for stdin)"),
    ]
    for params, message in cases:
        # No topology: the parameters are read before anything connects, so a typo costs no request.
        code = cli.main(
            ["job", "run", "ses-x", "lead_rating_train", "--params", params, "--topology", "", "--as", ""]
        )
        _, err = capsys.readouterr()
        assert code == 1
        assert err.strip().splitlines()[-1] == message
    # As a real command: exit status 1, the one line, no traceback.
    proc = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "job", "run", "ses-x", "profile", "--params", f"@{bad}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == cases[0][1] and "Traceback" not in proc.stderr


def test_exit_codes_are_distinct_and_documented(capsys) -> None:
    assert exit_code("approved") == 0
    codes = {exit_code(s) for s in ("failed", "refused", "pending", "expired")}
    assert codes == {EXIT_FAILED, EXIT_REFUSED, EXIT_AWAITING_APPROVAL, EXIT_EXPIRED} and 0 not in codes
    assert exit_code("rejected") == EXIT_REFUSED
    with pytest.raises(SystemExit):
        cli.main(["job", "run", "--help"])
    shown = capsys.readouterr().out
    for line in ("3  the job failed", "4  the release was refused", "5  the release is computed and awaits"):
        assert line in shown
    assert read_params('{"a": 1}') == {"a": 1}
    with pytest.raises(ZhongliError):
        read_params("nope")
