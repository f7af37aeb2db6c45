"""The end-to-end tests' one-line checks: "ok   what" or "FAIL what" with the detail's last
3,000 characters (where a log's error is), and the failures collected for the exit status."""

failures = []


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
        if detail:
            print("     " + str(detail)[-3000:].replace("\n", "\n     "), flush=True)
    return ok


def summary(seconds, success):
    """The closing lines (time, then the failures' count or `success`); the exit status."""
    print(f"\n({seconds:.0f} s)", flush=True)
    print(f"{len(failures)} failed" if failures else success, flush=True)
    return 1 if failures else 0
