"""Validates an SPDX 3.0.1 JSON-LD document with the SPDX project's Python bindings
(PyPI spdx-python-model, generated from the 3.0.1 model): reading checks every class,
property name, value type and enumeration; linking checks that every reference resolves;
writing back checks every required property and cardinality. Exit 1 on any error."""

import io
import sys

from spdx_python_model import v3_0_1 as spdx


def main(path: str) -> int:
    objset = spdx.SHACLObjectSet()
    try:
        with open(path, "rb") as f:
            spdx.JSONLDDeserializer().read(f, objset)
        missing = objset.link()
        if missing:
            raise ValueError(f"references to objects not in the document: {sorted(missing)}")
        spdx.JSONLDSerializer().write(objset, io.BytesIO())
    except (ValueError, TypeError, KeyError) as e:
        print(f"{path}: INVALID: {e}")
        return 1
    types = sorted({type(o).__name__ for o in objset.foreach()})
    print(f"{path}: valid SPDX 3.0.1 ({', '.join(types)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
