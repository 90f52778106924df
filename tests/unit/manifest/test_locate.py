"""The line index behind manifest error positions."""

from __future__ import annotations

from forkable.manifest.locate import LineIndex

DOCUMENT = '''\
title = "x"          # 1
[site]               # 2
id = "a"             # 3
"quoted key" = 1     # 4
prompt = """         # 5
[not a table]
name = "not a key"
"""                  # 8
list = [             # 9
  "[fake]",
]                    # 11
after = 1            # 12
[[packs]]            # 13
id = "one"           # 14
[[packs]]            # 15
id = "two"           # 16
[packs.extra]        # 17
deep.er = 2          # 18
'''


def test_keys_tables_and_arrays_of_tables() -> None:
    index = LineIndex(DOCUMENT)
    assert index.line_of(["title"]) == 1
    assert index.line_of(["site"]) == 2
    assert index.line_of(["site", "id"]) == 3
    assert index.line_of(["site", "quoted key"]) == 4
    assert index.line_of(["site", "prompt"]) == 5
    assert index.line_of(["site", "name"]) == 2  # inside the string: not a key
    assert index.line_of(["site", "after"]) == 12
    assert index.line_of(["packs"]) == 13
    assert index.line_of(["packs", 0, "id"]) == 14
    assert index.line_of(["packs", 1, "id"]) == 16
    assert index.line_of(["packs", 1, "extra", "deep", "er"]) == 18
    assert index.line_of(["missing"]) == 1
