#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into tests/fuzz/corpus/<target>/seed-*.

Seeds come from the known-answer vectors (tests/vectors/*.json) and the shipped configuration
files, framed the way each target reads its input (docs/fuzzing.md). The output is committed;
run this again after the vectors change. Regression inputs (regress-*) are never touched, and
stale seed-* files are removed, so the corpus is exactly what this script says plus what the
fuzzers found.
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VECTORS = ROOT / "tests" / "vectors"


def load(name):
    return json.loads((VECTORS / name).read_text())


def frame(body):
    return struct.pack(">I", len(body)) + body


def error_frame(code, reason):
    r = reason.encode()[:256]
    return b"\x7f" + struct.pack(">HH", code, len(r)) + r


HS = load("handshake.json")
REC = load("records.json")
BAD = load("bad.json")
SUITE_TARGETS = {
    "0x0001": "record_open_aes_256_gcm",
    "0x0002": "record_open_chacha20_poly1305",
    "0x0003": "record_open_idea_ctr_hmac_sha256",
}


def seeds():
    """Yields (target, name, bytes)."""
    ch_body = bytes.fromhex(HS["client_hello"]["body"])
    ch_frame = bytes.fromhex(HS["client_hello"]["frame"])
    suites = HS["suites"]

    # ClientHello parser: the vectors' hello and every malformed one the server must refuse.
    yield "client_hello", "vector", ch_body
    for case in BAD["server"]:
        raw = bytes.fromhex(case["send"])
        if len(raw) > 4 and struct.unpack(">I", raw[:4])[0] == len(raw) - 4:
            yield "client_hello", "bad-" + case["name"], raw[4:]

    # ServerHello parser: one per suite, and the client's bad cases.
    for sid, s in suites.items():
        yield "server_hello", "vector-" + sid, bytes.fromhex(s["server_hello"]["body"])
    for case in BAD["client"]:
        raw = bytes.fromhex(case["server_hello"])
        if len(raw) > 4 and struct.unpack(">I", raw[:4])[0] == len(raw) - 4:
            raw = raw[4:]
        yield "server_hello", "bad-" + case["name"], raw

    # Error frames: what the server answers each bad ClientHello with (code, and its reason).
    seen = set()
    for case in BAD["server"]:
        expect = case["expect"]
        if isinstance(expect, dict) and "error" in expect and expect["name"] not in seen:
            seen.add(expect["name"])
            yield "error_frame", "bad-" + expect["name"], error_frame(expect["error"], case["why"])
    yield "error_frame", "utf8-cut", error_frame(1, "é" * 128)

    # Frame decoder: [max_frame selector][chunk] stream. Selector 3 is the handshake's 16384.
    stream = ch_frame
    for sid, s in suites.items():
        stream += bytes.fromhex(s["server_hello"]["frame"])
    yield "frame_decoder", "handshake-whole", bytes([3, 0]) + stream
    yield "frame_decoder", "handshake-chunk7", bytes([3, 7]) + stream
    records = b"".join(bytes.fromhex(r["frame"]) for r in REC["suites"]["0x0001"]["c2s"]["records"])
    yield "frame_decoder", "records-chunk1", bytes([4, 1]) + records
    for case in BAD["server"]:
        if case["name"].startswith("length_") or case["name"] in ("http_request", "tls_client_hello"):
            yield "frame_decoder", "bad-" + case["name"], bytes([3, 0]) + bytes.fromhex(case["send"])

    # Record open, one target per suite: [direction] then the direction's records in order
    # (finished, app, app, key_update, app, app, close), all of which open under epoch 0's secret.
    for sid, s in REC["suites"].items():
        for bit, direction in ((0, "c2s"), (1, "s2c")):
            frames = b"".join(bytes.fromhex(r["frame"]) for r in s[direction]["records"])
            yield SUITE_TARGETS[sid], "vector-" + direction, bytes([bit]) + frames
        for case in BAD["records"] + BAD["finished"]:
            receiver = case["receiver"]
            # Only cases whose receiver starts where the target's opener does.
            if case["suite"] == int(sid, 16) and receiver["epoch"] == 0 and receiver["seq"] == 0:
                bit = 0 if case["direction"] == "c2s" else 1
                name = case["name"].split("/", 1)[-1]
                yield SUITE_TARGETS[sid], "bad-" + name, bytes([bit]) + bytes.fromhex(case["frame"])

    # Server handshake: [options] frames. Client mode (0x04) with an anonymous finished
    # (op 0x09: type finished, th in front, then empty identity and signature) establishes
    # under each preferred suite; op 0x10 sends a signed finished for keys mode (policy 3).
    anonymous = frame(b"\x09" + b"\x00\x00\x00\x00")
    signed = frame(b"\x11")
    for policy in range(3):
        yield "server_handshake", f"anonymous-policy{policy}", bytes([0x04 | policy]) + ch_frame + anonymous
    yield "server_handshake", "keys-signed", bytes([0x04 | 3]) + ch_frame + signed
    yield "server_handshake", "keys-anonymous", bytes([0x04 | 3]) + ch_frame + anonymous
    yield "server_handshake", "precheck-signed", bytes([0x0C | 3]) + ch_frame + signed
    yield "server_handshake", "full", bytes([0x10]) + ch_frame
    yield "server_handshake", "close-first", bytes([0x04]) + ch_frame + frame(b"\x04\x00\x00bye")
    for sid, s in suites.items():
        # The vectors' finished was made for another server random: a record that fails.
        yield "server_handshake", "vector-finished-" + sid, bytes([0]) + ch_frame + bytes.fromhex(
            s["client_finished_frame"])
    for case in BAD["server"]:
        yield "server_handshake", "bad-" + case["name"], bytes([0]) + bytes.fromhex(case["send"])

    # Application messages: what the records carry, per direction.
    c2s_json, s2c_json = set(), set()
    for s in REC["suites"].values():
        for direction, out in (("c2s", c2s_json), ("s2c", s2c_json)):
            for r in s[direction]["records"]:
                if r["content_type_name"] == "app":
                    out.add(bytes.fromhex(r["data"]))
    for s in suites.values():
        s2c_json.add(s["welcome_json"].encode())
    for i, data in enumerate(sorted(c2s_json)):
        yield "app_request", f"vector-{i}", data
    for i, data in enumerate(sorted(s2c_json)):
        yield "app_event", f"vector-{i}", data
    # Version 1.1 additions (PROTOCOL.md 6.3, 6.4), which no vector carries.
    yield "app_request", "history", b'{"type":"history","room":"lobby","after":41,"limit":100,"id":7}'
    yield "app_request", "action", b'{"type":"say","room":"lobby","text":"waves","action":true}'
    yield "app_event", "replay", (b'{"type":"message","room":"lobby","from":"bob","text":"waves",'
                                  b'"ts":"2024-05-01T12:00:00.123Z","seq":42,"action":true,'
                                  b'"replay":true}')
    yield "app_event", "history_end", (b'{"type":"history_end","room":"lobby","more":true,'
                                       b'"complete":false,"id":7}')

    # Configuration: the example with every key and the service's own.
    yield "config", "example", (ROOT / "config" / "parleyd.example.json").read_bytes()
    yield "config", "systemd", (ROOT / "systemd" / "parleyd.json").read_bytes()

    # known_hosts and authorized_keys: the vectors' fingerprints in each file's shape.
    fps = [HS["keys"]["server_identity"]["fingerprint"], HS["keys"]["transport"]["fingerprint"],
           HS["client_auth"]["identity_key"]["fingerprint"]]
    yield "known_hosts", "vectors", (
        "# parley known_hosts\n"
        f"127.0.0.1:7777 {fps[0]}\n"
        f"[::1]:7777 {fps[0]}\r\n"
        "\n"
        f"chat.example.org:7777\t{fps[1]}\n"
        f"chat.example.org:7777 {fps[2]}\n"
        "broken-line\n").encode()
    yield "authorized_keys", "vectors", (
        "# keys allowed to connect\n"
        f"{fps[2]} alice\n"
        f"{fps[1]}\r\n"
        f"   {fps[0]}\tbob  \n").encode()


def main():
    corpus = HERE / "corpus"
    written = {}
    for target, name, data in seeds():
        path = corpus / target / ("seed-" + name.replace("/", "_"))
        if path in written:
            raise SystemExit(f"duplicate seed {path}")
        written[path] = data
    for target_dir in {p.parent for p in written}:
        target_dir.mkdir(parents=True, exist_ok=True)
        for old in target_dir.glob("seed-*"):
            if old not in written:
                old.unlink()
    for path, data in written.items():
        path.write_bytes(data)
    print(f"make_seeds: {len(written)} seeds for {len({p.parent for p in written})} targets")


if __name__ == "__main__":
    main()
