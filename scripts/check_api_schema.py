#!/usr/bin/env python3
"""Runs schemathesis against `affinity serve` and writes docs/reliability/schemathesis.md (issue 7).

    swift build -c release && python3 scripts/check_api_schema.py

It installs schemathesis into .venv-schemathesis (not committed), generates a small world with
`affinity generate`, imports it, serves it with ALS (so similar items and explanations answer),
and lets schemathesis run every check on every operation of /openapi.json, with the API key.
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = os.environ.get("AFFINITY_BIN", str(ROOT / ".build/release/affinity"))
VENV = ROOT / ".venv-schemathesis"
EXAMPLES = os.environ.get("EXAMPLES", "200")


def main():
    if not (VENV / "bin/schemathesis").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin/pip"), "install", "-q", "schemathesis"], check=True)
    version = subprocess.run([str(VENV / "bin/schemathesis"), "--version"], capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="affinity-schema-")
    subprocess.run([BIN, "generate", "--users", "300", "--items", "200", "--ratings", "6000", "--out", f"{work}/r.tsv"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN, "import", "--db", f"{work}/db.sqlite", "--data", f"{work}/r.tsv"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([BIN, "serve", "--db", f"{work}/db.sqlite", "--port", "0", "--api-key", "schema-key",
                               "--model", "als"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = ""
    while "serving http://" not in line:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            sys.exit("the server did not start")
    url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
    started = time.time()
    command = [str(VENV / "bin/schemathesis"), "run", f"{url}/openapi.json", "--checks", "all",
               "-H", "Authorization: Bearer schema-key", "--max-examples", EXAMPLES, "--seed", "42",
               "--no-color"]
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - started
    server.terminate()
    server.wait(timeout=30)
    output = (result.stdout + result.stderr).strip()
    print(output)
    shown = " ".join(c if not c.startswith("http") else "http://127.0.0.1:PORT/openapi.json" for c in command[1:])
    summary = [line for line in output.splitlines() if re.search(r"(passed|failed|errored|skipped|Summary|Test cases|API Operations)", line)]
    text = "\n".join([
        "# schemathesis against the service (issue 7)", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python3 scripts/check_api_schema.py` "
        f"({version}, release build, {seconds:.0f} s): `schemathesis {shown.replace('schema-key', '<key>')}` against "
        "`affinity serve --model als` on a generated world of 300 users × 200 items × 6,000 interactions.", "",
        f"Exit status {result.returncode} ({'no failures' if result.returncode == 0 else 'failures below'}).", "",
        "Summary lines:", "", "```", *summary, "```", "",
        "Full output:", "", "```", output[-12000:], "```", "",
    ])
    (ROOT / "docs/reliability/schemathesis.md").write_text(text)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
