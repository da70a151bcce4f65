#!/usr/bin/env python3
"""Validates ODM files against the CDISC ODM 1.3.2 XML schema shipped in the odmlib package.

Usage: python3 tests/odm/validate.py FILE...

Needs lxml and odmlib (python3 -m pip install odmlib lxml; .ci/run installs them). Prints where
the schema was found, then one line per file; exits 0 when every file is valid, 1 when any is
not (with the schema's messages), 2 when the schema or a file cannot be read.
"""

import importlib.util
import os
import sys


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def schema_path():
    spec = importlib.util.find_spec("odmlib")
    if spec is None or not spec.submodule_search_locations:
        fail("the odmlib package is not installed (python3 -m pip install odmlib lxml)")
    for root in spec.submodule_search_locations:
        for directory, _, files in os.walk(root):
            if "ODM1-3-2.xsd" in files and directory.replace("\\", "/").endswith("odm/1.3.2"):
                return os.path.join(directory, "ODM1-3-2.xsd")
    fail("no ODM1-3-2.xsd inside the installed odmlib package")


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    from lxml import etree

    path = schema_path()
    print(f"schema: {path}")
    schema = etree.XMLSchema(etree.parse(path))
    failed = 0
    for file in paths:
        try:
            document = etree.parse(file)
        except (OSError, etree.XMLSyntaxError) as error:
            print(f"{file}: unreadable: {error}")
            return 2
        if schema.validate(document):
            print(f"{file}: valid ODM 1.3.2")
        else:
            failed += 1
            print(f"{file}: INVALID")
            for error in list(schema.error_log)[:20]:
                print(f"  line {error.line}: {error.message}")
    print(f"{len(paths) - failed} valid, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
