"""Makes every Python process started with this folder on PYTHONPATH keep its free heap
(bench_memory_release.py's servers without the periodic release).

`forkable serve` looks up `forkable.allocator.release_free_memory` when its app starts; set
here, before any of forkable is imported, the name it finds does nothing. The thread that
calls it every 10 s still runs.
"""

import forkable.allocator


def _keep_free_memory() -> bool:
    return False


forkable.allocator.release_free_memory = _keep_free_memory
