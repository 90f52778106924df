"""Makes the `filters` extra (OpenCV, NumPy) look not installed, here and in child processes.

Put this folder first on PYTHONPATH: Python imports `sitecustomize` at start-up, before any
other module, and this one puts a finder in front of every other that refuses `cv2` and
`numpy` as absent packages would. Each attempt is appended to the file named by
FORKABLE_TEST_IMPORT_LOG (when set), so a test can tell that nothing even tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

BLOCKED = ("cv2", "numpy")


class NotInstalled(MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in BLOCKED:
            return None
        log = os.environ.get("FORKABLE_TEST_IMPORT_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"{fullname}\n")
        raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


sys.meta_path.insert(0, NotInstalled())
