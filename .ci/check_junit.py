"""CI gate on a pytest junit XML: prints the counts; exits 1 on any failure or error, on a skipped test
outside the allowed folder, on an empty run, or on fewer tests than expected (a suite that was not
collected whole, e.g. when launch_testing's pytest plugin turns a module-level skip into an empty session).

    python .ci/check_junit.py pytest.xml [--allow-skips-under test/launch/] [--count-file F]
                                         [--expect-at-least N]
"""
from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def module_path(case: ElementTree.Element) -> str:
    """The test's module path as ``a/b/c`` (junit gives it dotted in ``classname``, or in ``name`` for a
    module-level skip)."""
    dotted = case.get("classname") or case.get("name") or ""
    return dotted.replace(".", "/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xml", type=Path)
    parser.add_argument("--allow-skips-under", default=None, help="module path prefix whose skips are allowed")
    parser.add_argument("--count-file", type=Path, help="write the number of tests here")
    parser.add_argument("--expect-at-least", type=int, default=1, help="fewest tests that must have run")
    args = parser.parse_args()
    if not args.xml.is_file():
        print(f"check_junit: {args.xml} does not exist: the tests did not run", file=sys.stderr)
        return 1
    cases = list(ElementTree.parse(args.xml).getroot().iter("testcase"))
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    allowed = args.allow_skips_under.rstrip("/") if args.allow_skips_under else None
    refused = [c for c in skipped if allowed is None or not module_path(c).startswith(allowed)]
    print(f"check_junit: {len(cases)} tests: {len(cases) - len(failed) - len(skipped)} passed, "
          f"{len(failed)} failed, {len(skipped)} skipped ({len(skipped) - len(refused)} allowed)")
    problems = [f"failed: {module_path(c)}::{c.get('name')}" for c in failed]
    for case in refused:
        reason = case.find("skipped").get("message", "")
        problems.append(f"skipped: {module_path(case)}::{case.get('name')}: {reason}")
    if len(cases) < args.expect_at_least:
        problems.append(f"only {len(cases)} tests ran, expected at least {args.expect_at_least}: "
                        "the suite was not collected whole")
    if args.count_file:
        args.count_file.write_text(str(len(cases)))
    for problem in problems:
        print(f"check_junit: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
