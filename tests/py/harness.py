"""Shared ending of the Python-side tests: print each check and the closing tally line
("N passed, N failed") that ctest logs, and return the exit code."""


def report(results, max_lines=10):
    """results: list of (check name, list of error strings)."""
    failed = 0
    for name, errs in results:
        print(("ok   " if not errs else "FAIL ") + name)
        for e in errs[:max_lines]:
            print("     " + e)
        failed += bool(errs)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
