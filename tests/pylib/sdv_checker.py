"""The check counter shared by the Python interoperability tests (tests/crypto/interop_crypto.py,
tests/broker_auth/interop_jwt.py): each runs one of our command-line tools against an
independent implementation and reports every check as a line, "ok   NAME" on standard output or
"FAIL NAME: DETAIL" on standard error. Standard library only.
"""

import os
import subprocess
import sys


class Checker:
    """Counts passed and failed checks; runs `tool` and writes scratch files in `workdir`."""

    def __init__(self, tool, workdir):
        self.tool = tool
        self.workdir = workdir
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}", file=sys.stderr)

    def run(self, *args):
        """Runs the tool with args; returns the CompletedProcess (text output, never raises on a
        non-zero exit)."""
        return subprocess.run([self.tool, *args], capture_output=True, text=True, check=False)

    def write(self, name, data):
        """Writes bytes to workdir/name and returns that path."""
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path
