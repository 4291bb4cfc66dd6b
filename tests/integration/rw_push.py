#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""rw_push.py - pushes gauges to a remote_write 1.0 receiver, for the alerting tests (stdlib only).

Usage: rw_push.py URL STATEFILE [PERIOD_S]
Every PERIOD_S (0.5) seconds, reads STATEFILE (lines `metric_name label=value ... VALUE`; blank
lines and # comments ignored) and sends one WriteRequest with one sample per line at the current
time. Failed requests (the receiver restarting) are reported on stderr and retried at the next
period. Runs until killed.

The WriteRequest protobuf (docs/formats/remote-write.md) is encoded by hand and compressed with
snappy's block format using literals only (valid snappy, no compression), so no module beyond
the standard library is needed.
"""
import struct
import sys
import time
import urllib.request


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def timeseries(labels, value, t_ms):
    body = b""
    for name in sorted(labels):
        body += field_bytes(1, field_bytes(1, name.encode()) + field_bytes(2, labels[name].encode()))
    sample = varint(1 << 3 | 1) + struct.pack("<d", value) + varint(2 << 3 | 0) + varint(t_ms)
    return body + field_bytes(2, sample)


def snappy_literal(data):
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def read_state(path):
    series = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return series
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        labels = {"__name__": parts[0]}
        for p in parts[1:-1]:
            k, v = p.split("=", 1)
            labels[k] = v
        series.append((labels, float(parts[-1])))
    return series


def main():
    url, state = sys.argv[1], sys.argv[2]
    period = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    while True:
        t_ms = int(time.time() * 1000)
        req = b"".join(field_bytes(1, timeseries(l, v, t_ms)) for l, v in read_state(state))
        if req:
            r = urllib.request.Request(url, data=snappy_literal(req), method="POST", headers={
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
                "User-Agent": "rw_push.py",
            })
            try:
                urllib.request.urlopen(r, timeout=5).read()
            except Exception as e:  # the receiver may be restarting
                print("rw_push: %s" % e, file=sys.stderr, flush=True)
        time.sleep(period)


if __name__ == "__main__":
    main()
