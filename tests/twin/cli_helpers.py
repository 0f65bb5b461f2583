"""Running the ``twin`` CLI in-process and checking its error surface (shared by the tests)."""

from __future__ import annotations


def run_cli(capsys, *args):
    """``twin.cli.main(args)`` -> (exit status, stdout, stderr)."""
    import twin.cli

    code = twin.cli.main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_user_error(result, *fragments):
    """Exit 2 with exactly one stderr line ``twin: error: ...`` holding every fragment."""
    code, _, err = result
    lines = [line for line in err.strip().splitlines() if not line.startswith("twin: note:")]
    assert code == 2, f"exit {code}, stderr:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("twin: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
