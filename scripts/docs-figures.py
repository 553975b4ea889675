#!/usr/bin/env python3
"""The figures the docs quote, and the results files they come from.

docs/results/bench.tsv  written by scripts/bench.sh (through `record`): one
                        figure a line, with the date, the machine and the
                        versions (commit, rustc, Redis, PostgreSQL) it was
                        measured with, and the phase that measured it.
docs/results/tests.tsv  figures that tests print (failovers, fault schedules),
                        copied by hand from their output: each line names the
                        test and the date.

A doc quotes a figure by following it with a marker naming its key:

    vote spends 14.6 us<!-- fig:vote.cpu_us.returning --> of CPU per vote

The number (or range, `6.6-7.5`) nearest before the marker on its line, with no
digit between them, must be the file's value at the precision the doc writes it
(14.59 may be quoted 14.6 or 15, not 14.7). Between the lines
`<!-- figures:begin FILE [PREFIX] -->` and `<!-- figures:end -->` stands a
table of the figures of FILE (bench or tests) whose key starts with PREFIX.

  docs-figures.py check    exit 1 naming each quote or table the files do not
                           hold (after a self-test of the comparison)
  docs-figures.py write    rewrite the quotes and tables from the files
  docs-figures.py record KEYED --results FILE --postgres-bin DIR
                           (bench.sh) merge one run's figures into FILE
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = "docs/results/bench.tsv"
TESTS = "docs/results/tests.tsv"
BENCH_COLUMNS = ["key", "value", "unit", "figure", "phase", "note",
                 "date", "machine", "commit", "rustc", "redis", "postgres"]
TESTS_COLUMNS = ["key", "value", "unit", "figure", "source", "date", "machine"]
BENCH_HEADER = ("# Written by scripts/bench.sh (scripts/docs-figures.py record); "
                "a run replaces the lines of the figures it measured. Do not edit.\n")

NUMBER = r"\d[\d,]*(?:\.\d+)?"
QUOTE = re.compile(r"(" + NUMBER + r")(?:\s*[-\u2013]\s*(" + NUMBER + r"))?([^\d\n]*?)"
                   r"<!-- fig:([A-Za-z0-9_.\-]+) -->")
MARKER = re.compile(r"<!-- fig:[^>]*-->")
TABLE = re.compile(r"^<!-- figures:begin (bench|tests)(?: ([A-Za-z0-9_.\-]+))? -->\n.*?"
                   r"^<!-- figures:end -->$", re.M | re.S)


def read_tsv(path, columns):
    """The rows of a results file, by key (lines starting with # are comments;
    the first other line names the columns)."""
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    if lines and lines[0].split("\t") != columns:
        sys.exit(f"{path}: the column line must read {' '.join(columns)}")
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != len(columns) or not all(cells[:2]):
            sys.exit(f"{path}: line {n} needs {len(columns)} cells, a key and a value: {line!r}")
        rows[cells[0]] = dict(zip(columns, cells))
    return rows


def figures():
    """Every figure of both files, by key; a key in both is an error. Each row
    says which file it came from (`file`: bench or tests)."""
    bench = read_tsv(os.path.join(ROOT, BENCH), BENCH_COLUMNS)
    tests = read_tsv(os.path.join(ROOT, TESTS), TESTS_COLUMNS)
    for key, row in tests.items():
        if not (row["source"] and row["date"]):
            sys.exit(f"{TESTS}: {key} must name its source (the test) and its date")
        if key in bench:
            sys.exit(f"{key} is in both {BENCH} and {TESTS}")
    for rows, name in ((bench, "bench"), (tests, "tests")):
        for row in rows.values():
            row["file"] = name
    return {**bench, **tests}


def plain(text):
    return text.replace(",", "")


def quoted_as(value, quote):
    """`value` written with the decimals and thousands separators of `quote`."""
    try:
        number = Decimal(plain(value))
    except InvalidOperation:
        return None
    decimals = len(quote.split(".")[1]) if "." in quote else 0
    text = f"{number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"
    if "," in quote:
        whole, _, frac = text.partition(".")
        text = f"{int(whole):,}" + (f".{frac}" if frac else "")
    return text


def expected_quote(value, first, last):
    """What the doc should say for `value`, in the form it used, or None when
    the value cannot be written in that form (a range quoted as one number)."""
    if last is not None:
        low, sep, high = plain(value).partition("-")
        if not sep:
            return None
        a, b = quoted_as(low, first), quoted_as(high, last)
        return None if a is None or b is None else f"{a}-{b}"
    return quoted_as(value, first)


def quotes(text):
    for m in QUOTE.finditer(text):
        yield m


def render_table(file, prefix, figs):
    """The figures of one file whose key starts with prefix, grouped by where
    and with what they were measured."""
    prefix = prefix or ""
    keys = sorted(k for k, r in figs.items() if r["file"] == file and k.startswith(prefix))
    out = [f"<!-- figures:begin {file}{' ' + prefix if prefix else ''} -->"]
    groups = {}
    for k in keys:
        r = figs[k]
        if "commit" in r:
            where = (f"{r['date']}, {r['machine']}; commit {r['commit']}, rustc {r['rustc']}, "
                     f"Redis {r['redis']}, PostgreSQL {r['postgres']}")
        else:
            where = f"{r['date']}, {r['machine']}; {r['source']}"
        groups.setdefault(where, []).append(r)
    for where, rows in groups.items():
        out += ["", f"Measured {where}:", "",
                "| key | value | unit | figure | how |", "|---|---|---|---|---|"]
        for r in rows:
            how = "; ".join(x for x in (r.get("phase", ""), r.get("note", "")) if x)
            cells = [f"`{r['key']}`", r["value"], r["unit"], r["figure"], how]
            out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    out += ["", "<!-- figures:end -->"]
    return "\n".join(out)


def docs():
    listed = subprocess.run(["git", "-C", ROOT, "ls-files", "--cached", "--others",
                             "--exclude-standard", "*.md"],
                            capture_output=True, text=True, check=True).stdout.split()
    return [p for p in listed if os.path.exists(os.path.join(ROOT, p))]


def problems_in(path, text, figs):
    """Each quote or table of one doc that the figures do not hold."""
    found = []
    quoted = {m.end() for m in quotes(text)}
    for m in MARKER.finditer(text):
        if m.end() not in quoted:
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{path}:{line}: {m.group(0)} follows no figure on its line")
    for m in quotes(text):
        first, last, key = m.group(1), m.group(2), m.group(4)
        line = text.count("\n", 0, m.start()) + 1
        said = first + (f"-{last}" if last else "")
        if key not in figs:
            found.append(f"{path}:{line}: {said} quotes {key}, which no results file holds")
            continue
        want = expected_quote(figs[key]["value"], first, last)
        if want is None or plain(want) != plain(said):
            found.append(f"{path}:{line}: {said} quotes {key}, but the results say "
                         f"{figs[key]['value']} ({want or 'another form'})")
    for m in TABLE.finditer(text):
        if m.group(0) != render_table(m.group(1), m.group(2), figs):
            line = text.count("\n", 0, m.start()) + 1
            which = m.group(1) + (f" {m.group(2)}" if m.group(2) else "")
            found.append(f"{path}:{line}: the table of {which} figures is not the one "
                         "the results render (docs-figures.py write)")
    return found


def rewrite(text, figs):
    def quote(m):
        first, last, rest, key = m.groups()
        want = expected_quote(figs[key]["value"], first, last) if key in figs else None
        if want is None:
            return m.group(0)
        return f"{want}{rest}<!-- fig:{key} -->"
    text = QUOTE.sub(quote, text)
    return TABLE.sub(lambda m: render_table(m.group(1), m.group(2), figs), text)


def self_test():
    figs = {"a": {"value": "14.59"}, "b": {"value": "66532.4"}, "r": {"value": "6.6-7.5"}}
    good = ("14.6 us<!-- fig:a --> 15 us<!-- fig:a --> 66,532/s<!-- fig:b --> "
            "6.6-7.5 s<!-- fig:r -->")
    bad = ["14.7 us<!-- fig:a -->", "66,533<!-- fig:b -->", "6.6-7.4 s<!-- fig:r -->",
           "6.6 s<!-- fig:r -->", "1.0-2.0<!-- fig:a -->", "1<!-- fig:nothing -->",
           "14.6\nus<!-- fig:a -->", "14.6 p99<!-- fig:a -->"]
    assert problems_in("t", good, figs) == [], problems_in("t", good, figs)
    for text in bad:
        assert len(problems_in("t", text, figs)) == 1, text
    assert rewrite("14.7 us<!-- fig:a -->", figs) == "14.6 us<!-- fig:a -->"
    rows = {"k": {"key": "k", "value": "1", "unit": "s", "figure": "f", "source": "t",
                  "date": "d", "machine": "m", "file": "tests"}}
    table = render_table("tests", None, rows)
    assert problems_in("t", table, rows) == []
    assert len(problems_in("t", table.replace("| 1 |", "| 2 |"), rows)) == 1


def check(_args):
    self_test()
    figs = figures()
    found = []
    count = 0
    for path in docs():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            text = f.read()
        count += sum(1 for _ in quotes(text))
        found += problems_in(path, text, figs)
    for p in found:
        print(p, file=sys.stderr)
    if found:
        print(f"docs-figures: {len(found)} quoted figures the results do not hold "
              "(re-measure, or `scripts/docs-figures.py write`)", file=sys.stderr)
        sys.exit(1)
    print(f"docs-figures: {count} quoted figures, each as {BENCH} or {TESTS} holds it")


def write(_args):
    figs = figures()
    for path in docs():
        full = os.path.join(ROOT, path)
        with open(full, encoding="utf-8") as f:
            text = f.read()
        new = rewrite(text, figs)
        if new != text:
            with open(full, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"rewrote {path}")


def command_output(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine():
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
    system = ""
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    system = line.split("=", 1)[1].strip().strip('"')
    return f"{os.cpu_count()} cores, {model}, {round(kib / 2**20)} GiB, {system}".strip(", ")


def commit():
    head = command_output("git", "-C", ROOT, "rev-parse", "--short=12", "HEAD")
    # What changes no figure (the docs, this file) does not make a build dirty.
    dirty = command_output("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                           "--", ".", ":(exclude)docs", ":(exclude)*.md")
    return head + ("+dirty" if dirty else "")


def ratio(ours, baseline):
    try:
        r = float(ours) / float(baseline)
    except (ValueError, ZeroDivisionError):
        return None
    text = f"{r:.4g}"
    return f"{r:.6f}".rstrip("0") if "e" in text else text


def record(args):
    """Merges bench.sh's keyed figures (key, phase, figure, ours, baseline,
    unit, target, note) into the results file."""
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        "commit": commit(),
        "rustc": (command_output("rustc", "--version").split() + ["", ""])[1],
        "redis": (re.findall(r"v=(\S+)", command_output("redis-server", "--version")) or [""])[0],
        "postgres": (re.findall(r"\(PostgreSQL\) (\S+)", command_output(
            os.path.join(args.postgres_bin, "postgres"), "--version")) or [""])[0],
    }
    rows = read_tsv(args.results, BENCH_COLUMNS)
    with open(args.keyed, encoding="utf-8") as f:
        for line in f:
            cells = (line.rstrip("\n").split("\t") + [""] * 8)[:8]
            # Paths inside this checkout are written relative to it.
            cells = [c.strip().replace(ROOT + "/", "") for c in cells]
            key, phase, name, ours, baseline, unit, target, note = cells
            entries = [(key, ours, unit, name, note), (f"{key}.baseline", baseline, unit,
                                                       f"{name}: the baseline", note)]
            r = ratio(ours, baseline)
            if r is not None:
                goal = f"goal {target}" if target not in ("", "-") else ""
                entries.append((f"{key}.ratio", r, "ratio", f"{name}: ours / baseline",
                                "; ".join(x for x in (goal, note) if x)))
            for k, value, u, figure, n in entries:
                if value:
                    rows[k] = {"key": k, "value": value, "unit": u, "figure": figure,
                               "phase": phase, "note": n, **run}
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w", encoding="utf-8") as f:
        f.write(BENCH_HEADER)
        f.write("\t".join(BENCH_COLUMNS) + "\n")
        for k in sorted(rows):
            f.write("\t".join(rows[k][c].replace("\t", " ") for c in BENCH_COLUMNS) + "\n")
    print(f"figures recorded in {args.results}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check").set_defaults(run=check)
    sub.add_parser("write").set_defaults(run=write)
    rec = sub.add_parser("record")
    rec.add_argument("keyed")
    rec.add_argument("--results", required=True)
    rec.add_argument("--postgres-bin", required=True)
    rec.set_defaults(run=record)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
