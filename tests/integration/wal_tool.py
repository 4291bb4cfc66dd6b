# SPDX-License-Identifier: Apache-2.0
# wal_tool.py - reads and damages a tidewatch WAL for test_wal_damage.sh (not a test by itself).
#
# Written from docs/formats/wal.md only (segments "NNNNNNNN" starting with the magic
# "TWWAL\0\0\2", or "TWWAL\0\0\1" for version 1; records with a 16-byte little-endian header: payload length u32, type u8 (1
# series, 2 samples), 3 zero bytes, CRC32C of the payload, CRC32C of header bytes 0..11; series
# payload: {uvarint ref, uvarint n, n x (uvarint len, name, uvarint len, value)}*; samples
# payload, version 2: {uvarint zigzag(dref) << 2 | kind, varint dt, value by kind (0: none,
# 1: varint, 2: u64 bits)}* with deltas from the previous sample; version 1: uvarint base_ref,
# varint base_t, {varint dref, varint dt, u64 value bits}*), so it is
# an independent reading of the format. CRCs are not recomputed: the damage is chosen, and the
# expected loss follows from the documented replay rules.
#
# usage: wal_tool.py WAL_DIR ACTION OUT_MISSING
#   ACTION truncate-tail : cut the last segment in the middle of its last record's payload
#          flip-payload  : flip one byte in the middle of the payload of the middle samples
#                          record of the first segment (which must not be the last one)
#          flip-header   : flip the first byte (the length) of the header of the middle record
#                          of the first segment: the rest of that segment is lost, and samples
#                          of series whose series record was there are lost in every segment
#          flip-header-first : the same on the first record of the first segment
# Prints "<segment> <offset> <bytes> <unknown>" (the damaged record's segment name, its offset,
# the torn bytes / the record's payload length / the bytes skipped, and how many samples in
# readable records belong to series whose series record was lost) and writes to OUT_MISSING the
# samples ("<labels as tsdb dump prints them> <t>") the documented replay must lose.
import os
import re
import struct
import sys

MAGICS = {b"TWWAL\0\0\1": 1, b"TWWAL\0\0\2": 2}
HDR = 16


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def varint(b, i):
    u, i = uvarint(b, i)
    return (u >> 1) ^ -(u & 1), i


def records(path):
    """[(offset, type, payload)] of a clean segment."""
    data = open(path, "rb").read()
    if data[:8] not in MAGICS:
        sys.exit(f"{path}: no WAL magic")
    VERSIONS[path] = MAGICS[data[:8]]
    out, off = [], 8
    while off < len(data):
        plen, typ = struct.unpack_from("<IB", data, off)
        if off + HDR + plen > len(data):
            sys.exit(f"{path}: record at {off} runs past the end (the WAL must be clean here)")
        out.append((off, typ, data[off + HDR:off + HDR + plen]))
        off += HDR + plen
    return out


def decode_series(p):
    i, out = 0, []
    while i < len(p):
        ref, i = uvarint(p, i)
        n, i = uvarint(p, i)
        labels = []
        for _ in range(n):
            ln, i = uvarint(p, i)
            name = p[i:i + ln].decode()
            i += ln
            ln, i = uvarint(p, i)
            value = p[i:i + ln].decode()
            i += ln
            labels.append((name, value))
        out.append((ref, labels))
    return out


VERSIONS = {}


def decode_samples2(p):
    ref = t = i = 0
    out = []
    while i < len(p):
        head, i = uvarint(p, i)
        dt, i = varint(p, i)
        kind, z = head & 3, head >> 2
        ref += (z >> 1) ^ -(z & 1)
        t += dt
        if kind == 1:
            _, i = varint(p, i)
        elif kind == 2:
            i += 8
        elif kind != 0:
            sys.exit("samples record with value kind 3")
        out.append((ref, t))
    return out


def decode_samples(p, version=1):
    if version == 2:
        return decode_samples2(p)
    base_ref, i = uvarint(p, 0)
    base_t, i = varint(p, i)
    out = []
    while i < len(p):
        dref, i = varint(p, i)
        dt, i = varint(p, i)
        i += 8
        out.append((base_ref + dref, base_t + dt))
    return out


def fmt(labels):
    return "{" + ", ".join(f'{n}="{v}"' for n, v in labels) + "}"


def main():
    wal, action, out_missing = sys.argv[1:4]
    segs = sorted(f for f in os.listdir(wal) if re.fullmatch(r"\d{8}", f))
    recs = {s: records(os.path.join(wal, s)) for s in segs}
    if len([s for s in segs if recs[s]]) < 2:
        sys.exit(f"need at least 2 segments with records, have {[(s, len(recs[s])) for s in segs]}")
    print(f"segments: {[(s, len(recs[s])) for s in segs]}", file=sys.stderr)

    lost = set()  # (segment, offset) of records the replay cannot read
    if action == "truncate-tail":
        seg = segs[-1]
        if not recs[seg]:
            sys.exit(f"last segment {seg} has no record")
        off, typ, p = recs[seg][-1]
        cut = off + HDR + len(p) // 2
        os.truncate(os.path.join(wal, seg), cut)
        lost.add((seg, off))
        report = (seg, off, cut - off)
    elif action in ("flip-payload", "flip-header", "flip-header-first"):
        seg = segs[0]
        cands = [r for r in recs[seg] if r[1] == 2] if action == "flip-payload" else recs[seg]
        off, typ, p = cands[0] if action == "flip-header-first" else cands[len(cands) // 2]
        pos = off + HDR + len(p) // 2 if action == "flip-payload" else off
        with open(os.path.join(wal, seg), "r+b") as f:
            f.seek(pos)
            c = f.read(1)
            f.seek(pos)
            f.write(bytes([c[0] ^ 0xFF]))
        if action == "flip-payload":
            lost.add((seg, off))
            report = (seg, off, len(p))
        else:
            skipped = [r for r in recs[seg] if r[0] >= off]
            for r in skipped:
                lost.add((seg, r[0]))
            report = (seg, off, sum(HDR + len(r[2]) for r in skipped))
    else:
        sys.exit(f"unknown action {action}")

    # Replay as documented: series records define refs; a sample is kept when its record is
    # readable and its ref was defined by a readable series record.
    all_labels, known, missing, unknown = {}, set(), [], 0
    for s in segs:
        for off, typ, p in recs[s]:
            if typ == 1:
                for ref, labels in decode_series(p):
                    all_labels[ref] = labels
                    if (s, off) not in lost:
                        known.add(ref)
    for s in segs:
        for off, typ, p in recs[s]:
            if typ != 2:
                continue
            for ref, t in decode_samples(p, VERSIONS[os.path.join(wal, s)]):
                if (s, off) in lost or ref not in known:
                    missing.append(f"{fmt(all_labels[ref])} {t}")
                    unknown += (s, off) not in lost
    with open(out_missing, "w") as f:
        f.write("".join(m + "\n" for m in missing))
    print(f"{action}: {len(missing)} samples must be lost", file=sys.stderr)
    print(*report, unknown)


main()
