"""Keep freed memory in the process during CPU training (glibc's malloc), instead of handing it back to the OS.

By default glibc returns freed memory at the top of its heap to the OS (and serves mid-sized blocks with fresh
`mmap`s), so every training step faults its activations back in, page by page: on 2 cores the CPU preset spent 17%
of its time in the kernel (12.3M page faults in 100 steps) and ran 0.46 s per step, slowing to 0.57 s over an hour.
With `keep_freed_memory()`: 0.42M faults, 0.37 s per step (the command and numbers are in docs/laptop-model.md).
PyTorch's CPU tuning guide gets the same effect by preloading jemalloc or tcmalloc (`LD_PRELOAD`), which needs a
system library and a wrapper around the command; `mallopt` does it from inside the process, with glibc alone.
"""

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

SETTINGS = (
    (M_MMAP_THRESHOLD, 32 << 20),  # blocks under 32 MB (glibc's maximum) come from the heap, not their own mmap
    (M_TRIM_THRESHOLD, (1 << 31) - 1),  # keep up to 2 GB of freed memory at the heap's top
    (M_TOP_PAD, 512 << 20),  # grow the heap 512 MB at a time (address space; pages are only used once touched)
)


def keep_freed_memory() -> bool:
    """Apply `SETTINGS` to glibc's malloc; True where applied (Linux with glibc), False elsewhere (macOS, Windows,
    musl), where the allocator is left as it is. Call it once, early, in a long-running training process."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)
