# SPDX-License-Identifier: Apache-2.0
# rw_check.py - checks a `tidewatch tsdb dump` against the logs of tests/tools/rw_crash_load
# (used by test_crash_recovery.sh and test_wal_damage.sh; not a test by itself).
#
# usage: rw_check.py DUMP LOG... [--expect-missing FILE]
#   DUMP  output of `tidewatch tsdb dump --match='{__name__=~"rw_crash_load_.+"}'`
#   LOG   rw_crash_load logs: "P <batch> <labels> <t> <v>" per sample sent, "ACK <batch> <n>"
#   --expect-missing FILE: lines "<labels> <t>" of samples the caller knows were destroyed (WAL
#         damage); they must be absent, and are not required although acknowledged.
# Asserts, and prints what it compared:
#   - every sample of an acknowledged batch is in the dump with its exact value (bit-exact
#     through float parsing: the log has %.17g, the dump Go's shortest %g);
#   - every sample in the dump was sent (no phantom series/timestamps) with the value sent;
#   - no (series, timestamp) twice in the dump;
#   - a batch that was sent but not acknowledged is in the dump entirely or not at all (one
#     request is one transaction, one WAL samples record); how many made it is informational.
# Exit 0 when all hold, 1 otherwise (the first differences are printed).
import collections
import re
import sys


def main():
    args = sys.argv[1:]
    missing_file = None
    if "--expect-missing" in args:
        i = args.index("--expect-missing")
        missing_file = args[i + 1]
        del args[i:i + 2]
    dump_path, logs = args[0], args[1:]

    sent = {}  # (labels, t) -> (batch, value string)
    batches = collections.defaultdict(list)  # batch -> [(labels, t)]
    acked = set()
    for path in logs:
        for line in open(path):
            line = line.rstrip("\n")
            if line.startswith("P "):
                m = re.match(r"^P (\d+) (\{.*\}) (-?\d+) (\S+)$", line)
                if not m:
                    sys.exit(f"{path}: bad line {line!r}")
                b, key = int(m.group(1)), (m.group(2), int(m.group(3)))
                if key in sent and sent[key][1] != m.group(4):
                    sys.exit(f"{path}: sample {key} sent twice with different values")
                if key not in sent:
                    batches[b].append(key)
                sent[key] = (b, m.group(4))
            elif line.startswith("ACK "):
                acked.add(int(line.split()[1]))

    expect_missing = set()
    if missing_file:
        for line in open(missing_file):
            if line.strip():
                labels, t = line.rstrip("\n").rsplit(" ", 1)
                expect_missing.add((labels, int(t)))

    dump = {}
    dup = []
    for line in open(dump_path):
        m = re.match(r"^(\{.*\}) (\S+) (-?\d+)$", line.rstrip("\n"))
        if not m:
            sys.exit(f"{dump_path}: bad line {line!r}")
        key = (m.group(1), int(m.group(3)))
        if key in dump:
            dup.append(key)
        dump[key] = m.group(2)

    problems = []
    n_acked = 0
    for b in sorted(acked):
        for key in batches[b]:
            if key in expect_missing:
                continue
            n_acked += 1
            if key not in dump:
                problems.append(f"acknowledged sample missing: batch {b} {key[0]} t={key[1]}")
            elif float(dump[key]) != float(sent[key][1]):
                problems.append(f"acknowledged sample changed: batch {b} {key[0]} t={key[1]} "
                                f"sent {sent[key][1]} dumped {dump[key]}")
    for key, v in dump.items():
        if key not in sent:
            problems.append(f"phantom sample (never sent): {key[0]} {v} {key[1]}")
        elif float(v) != float(sent[key][1]):
            problems.append(f"sample value changed: {key[0]} t={key[1]} sent {sent[key][1]} "
                            f"dumped {v}")
        if key in expect_missing:
            problems.append(f"sample that should have been destroyed is present: {key}")
    for key in dup[:5]:
        problems.append(f"duplicate sample in the dump: {key}")

    unacked = sorted(set(batches) - acked)
    whole, none = [], []
    for b in unacked:
        present = sum(1 for key in batches[b] if key in dump)
        if present == len(batches[b]):
            whole.append(b)
        elif present == 0:
            none.append(b)
        elif not expect_missing:
            problems.append(f"unacknowledged batch {b} is partly stored: {present} of "
                            f"{len(batches[b])} samples (a request is one transaction)")
    print(f"checked {n_acked} acknowledged samples of {len(acked)} batches against "
          f"{len(dump)} dumped samples; {len(expect_missing)} expected destroyed", file=sys.stderr)
    print(f"unacknowledged batches {unacked}: stored entirely {whole}, absent {none} "
          f"(informational)", file=sys.stderr)
    for p in problems[:30]:
        print("FAIL " + p, file=sys.stderr)
    if len(problems) > 30:
        print(f"... {len(problems) - 30} more", file=sys.stderr)
    sys.exit(1 if problems else 0)


main()
