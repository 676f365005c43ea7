#!/usr/bin/env python3
"""An independent verifier of what keten exports, from the published formats
alone: C2SP signed-note (vkeys, signature lines), tlog-checkpoint,
tlog-cosignature (cosignature/v1), RFC 6962/9162 Merkle inclusion and
consistency proofs, and keten's proof files (docs/auditor.md).  It shares
no code with keten: Python's hashlib and the `cryptography` package's
Ed25519 (OpenSSL), nothing else.

usage:
  c2sp_verify.py checkpoint VKEY NOTE_FILE [WITNESS_NAME=BASE64_ED25519_KEY ...]
      the broker's signature by VKEY, and each named witness's cosignature
  c2sp_verify.py proof VKEY PROOF_FILE
      a keten proof file (a receipt or `keten audit prove`): inclusion or consistency
Prints one line per check; exit 0 when all hold, 1 otherwise.
"""
import base64
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EMDASH = "\u2014"


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def parse_vkey(vkey):
    name, keyhash, key = vkey.split("+", 2)
    raw = base64.b64decode(key, validate=True)
    if raw[0] != 1 or len(raw) != 33:
        fail("vkey: not an Ed25519 key")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if want.hex() != keyhash:
        fail("vkey: key hash %s, expected %s" % (keyhash, want.hex()))
    return name, want, Ed25519PublicKey.from_public_bytes(raw[1:])


def split_note(note):
    """The text (with its final newline) and the signature lines."""
    if not note.endswith("\n"):
        fail("note: does not end in a newline")
    i = note.rfind("\n\n")
    if i < 0:
        fail("note: no blank line before the signatures")
    text, sigs = note[:i + 1], note[i + 2:]
    lines = sigs[:-1].split("\n")
    for line in lines:
        if not line.startswith(EMDASH + " ") or len(line.split(" ")) != 3:
            fail("note: malformed signature line %r" % line)
    return text, lines


def check_checkpoint(vkey, note):
    """The broker's signature (every one by its key must verify); (size, root)."""
    name, keyid, pub = parse_vkey(vkey)
    text, lines = split_note(note)
    good = 0
    for line in lines:
        _, who, b64 = line.split(" ")
        blob = base64.b64decode(b64, validate=True)
        if who != name or blob[:4] != keyid:
            continue
        try:
            pub.verify(blob[4:], text.encode())
        except InvalidSignature:
            fail("checkpoint: a signature by %s does not verify" % name)
        good += 1
    if good == 0:
        fail("checkpoint: no signature by %s" % name)
    body = text.split("\n")
    if body[0] != name:
        fail("checkpoint: origin %r is not the key name %r" % (body[0], name))
    size = int(body[1])
    if str(size) != body[1]:
        fail("checkpoint: size %r is not canonical" % body[1])
    root = base64.b64decode(body[2], validate=True)
    if len(root) != 32:
        fail("checkpoint: root is not 32 bytes")
    return size, root, text, lines


def check_cosignature(text, lines, witness, b64key):
    """C2SP tlog-cosignature: cosignature/v1 over the checkpoint's text."""
    raw = base64.b64decode(b64key, validate=True)
    pub = Ed25519PublicKey.from_public_bytes(raw)
    keyid = hashlib.sha256(witness.encode() + b"\n\x04" + raw).digest()[:4]
    for line in lines:
        _, who, b64 = line.split(" ")
        blob = base64.b64decode(b64, validate=True)
        if who != witness or blob[:4] != keyid or len(blob) != 4 + 8 + 64:
            continue
        t = struct.unpack(">Q", blob[4:12])[0]
        msg = ("cosignature/v1\ntime %d\n" % t).encode() + text.encode()
        try:
            pub.verify(blob[12:], msg)
        except InvalidSignature:
            fail("cosignature of %s does not verify" % witness)
        return t
    fail("no cosignature of %s" % witness)


def node(a, b):
    return hashlib.sha256(b"\x01" + a + b).digest()


def inclusion_root(index, size, leaf, proof):
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to."""
    if index >= size:
        fail("inclusion: index %d beyond size %d" % (index, size))
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            fail("inclusion: proof too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        fail("inclusion: proof too short")
    return r


def consistency_ok(first, second, root1, root2, proof):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and root1 == root2
    if first == 0 or first > second:
        return False
    if first & (first - 1) == 0:
        proof = [root1] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def read_proof(path):
    """A keten proof file (docs/auditor.md, "Proof files")."""
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    if lines[0] != "keten-proof v1":
        fail("proof: not a keten proof file")
    kind, a, b = lines[1].split(" ")
    i, entry = 2, None
    if kind == "inclusion":
        entry = base64.b64decode(lines[2][len("entry "):], validate=True)
        i = 3
    hashes = [bytes.fromhex(h) for h in lines[i][len("proof"):].strip().split(",") if h]
    i += 1
    notes = []
    while i < len(lines) and lines[i].startswith("checkpoint "):
        end = lines.index(".", i + 1)
        notes.append("\n".join(lines[i + 1:end]) + "\n")
        i = end + 1
    return kind, int(a), int(b), entry, hashes, notes


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    what, vkey, path = sys.argv[1], sys.argv[2], sys.argv[3]
    if what == "checkpoint":
        size, root, text, lines = check_checkpoint(vkey, open(path, encoding="utf-8").read())
        print("ok   checkpoint of size %d, root %s, signed by %s" % (size, root.hex(), vkey.split("+")[0]))
        for w in sys.argv[4:]:
            witness, key = w.split("=", 1)
            t = check_cosignature(text, lines, witness, key)
            print("ok   cosigned by %s at %d" % (witness, t))
    elif what == "proof":
        kind, a, b, entry, hashes, notes = read_proof(path)
        if kind == "inclusion":
            size, root, _, _ = check_checkpoint(vkey, notes[0])
            if size != b:
                fail("proof: the checkpoint is of size %d, the proof says %d" % (size, b))
            leaf = hashlib.sha256(b"\x00" + entry).digest()
            if inclusion_root(a, b, leaf, hashes) != root:
                fail("inclusion: entry %d is not in the tree of size %d" % (a, b))
            print("ok   entry %d (%d bytes) is in the signed tree of size %d" % (a, len(entry), b))
        else:
            s1, r1, _, _ = check_checkpoint(vkey, notes[0])
            s2, r2, _, _ = check_checkpoint(vkey, notes[1])
            if (s1, s2) != (a, b) or not consistency_ok(a, b, r1, r2, hashes):
                fail("consistency: the tree of size %d does not extend the one of size %d" % (b, a))
            print("ok   the signed tree of size %d extends the one of size %d" % (b, a))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
