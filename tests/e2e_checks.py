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
