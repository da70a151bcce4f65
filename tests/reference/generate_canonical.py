#!/usr/bin/env python3
"""Independent reference for the canonical JSON encoding (METHODS.md §8) and the protocol hash.

Writes canonical_cases.json: for each JSON value its canonical text and SHA-256, and for each
protocol (TOML) text its canonical text, its hash, and its legacy hash (the encoding that trials
created before the encodings were unified bound their protocol versions to). Written from the
rules in METHODS.md, with Python's own JSON parser, `tomllib` and `repr` for the shortest
round-trip digits (David Gay's algorithm: fewest digits, closest, ties to even), so that no code
is shared with the Rust implementation.

Run: python3 tests/reference/generate_canonical.py  (no third-party packages)
"""
import decimal
import hashlib
import json
import math
import pathlib
import tomllib


def escape(s, short=None):
    """A JSON string: `"` and `\\` escaped, control characters as \\u00xx unless `short` has them."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif short and ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canon_string(s):
    return escape(s)


def digits_exponent(x):
    """Digits (no trailing zeros) and E with x = d1.d2...dn * 10^E, from repr (shortest)."""
    sign, digits, exp = decimal.Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).lstrip("0") or "0"
    # value = int(digits) * 10^exp; E = exp + len(all digits) - 1 with leading zeros removed
    all_digits = "".join(map(str, digits))
    lead = len(all_digits) - len(all_digits.lstrip("0"))
    e = exp + len(all_digits) - 1 - lead
    ds = ds.rstrip("0") or "0"
    return ds, e


def canon_float(x):
    assert math.isfinite(x)
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    x = abs(x)
    if x == 0.0:
        return sign + "0.0"
    ds, e = digits_exponent(x)
    if -5 <= e <= 15:
        if e < 0:
            body = "0." + "0" * (-e - 1) + ds
        else:
            whole = e + 1
            if len(ds) <= whole:
                body = ds + "0" * (whole - len(ds)) + ".0"
            else:
                body = ds[:whole] + "." + ds[whole:]
    else:
        body = ds[0] + ("." + ds[1:] if len(ds) > 1 else "") + "e" + ("-" if e < 0 else "+") + str(abs(e))
    return sign + body


def canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return canon_float(v)
    if isinstance(v, str):
        return canon_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(i) for i in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8"))
        return "{" + ",".join(canon_string(k) + ":" + canon(i) for k, i in items) + "}"
    raise TypeError(type(v))


# The legacy protocol encoding: strings as serde_json escapes them (short forms \b \t \n \f \r,
# other control characters \u00XX in lowercase hex), NaN and infinities as strings, floats as
# serde_json prints them (shortest round-trip; same layout as the canonical one for the values
# used below).
LEGACY_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def legacy_string(s):
    return escape(s, LEGACY_SHORT)


def legacy(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return '"nan"'
        if math.isinf(v):
            return '"inf"' if v > 0 else '"-inf"'
        return canon_float(v)
    if isinstance(v, str):
        return legacy_string(v)
    if isinstance(v, list):
        return "[" + ",".join(legacy(i) for i in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8"))
        return "{" + ",".join(legacy_string(k) + ":" + legacy(i) for k, i in items) + "}"
    raise TypeError(type(v))


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


JSON_VALUES = [
    '{"b":1,"a":[true,false,null],"c":"x"}',
    '{"text":"line\\nbreak\\ttab \\"quoted\\" back\\\\slash / \\u007f é 😀 \\u0001"}',
    '[0.0,-0.0,5.0,0.25,1e-5,1.5e-7,123.456,1e15,1e16,1.7976931348623157e308,5e-324,0.1,-2.5]',
    '[0,42,-7,18446744073709551615,-9223372036854775808]',
    '{"é":1,"e":2,"z":3,"Z":4,"":5}',
    '[9007199254740993.0,0.30000000000000004,100.0,1234567.0,2e-6,0.00001234]',
]

PROTOCOLS = [
    '[trial]\nid = "T-1"\nmax_participants = 200\nrate = 0.25\n\n[[arm]]\nid = "a"\nprior = { beta = [1.0, 2.0] }\n\n[[arm]]\nid = "b"\n',
    '[trial]\nid = "T-2"\ndescription = """\nTwo lines,\nwith a\ttab."""\nthreshold = 1e-7\ncount = 5\nsame = 5.0\n',
    '[trial]\nid = "T-3"\nname = "Zwei Bäume \\"quoted\\" \\\\"\nlist = [1, 2.5, -0.0, 1e16]\n',
]


def main():
    here = pathlib.Path(__file__).parent
    cases = {"json": [], "protocols": []}
    for text in JSON_VALUES:
        value = json.loads(text)
        c = canon(value)
        # Parsing the canonical text and encoding it again gives the same text.
        assert canon(json.loads(c)) == c, text
        cases["json"].append({"input": text, "canonical": c, "sha256": sha(c)})
    for text in PROTOCOLS:
        value = tomllib.loads(text)
        c = canon(value)
        cases["protocols"].append(
            {"toml": text, "canonical": c, "hash": sha(c), "legacy_hash": sha(legacy(value))}
        )
    out = here / "canonical_cases.json"
    out.write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(cases['json'])} JSON values, {len(cases['protocols'])} protocols")


if __name__ == "__main__":
    main()
