"""Training keeps freed memory in the process: a second pass over the same allocations faults no page back in."""

import subprocess
import sys
import textwrap

import pytest

from fer_hf.allocator import keep_freed_memory

PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from fer_hf.allocator import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    def step():  # 200 MB of activations in 4 MB blocks, written, then freed, as a training step does
        blocks = [np.empty(4 << 20, np.uint8) for _ in range(50)]
        for block in blocks:
            block.fill(1)
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _page_faults_of_second_step(mode: str) -> int:
    return int(subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_keep_freed_memory_stops_each_step_faulting_its_memory_back_in():
    default, kept = _page_faults_of_second_step("default"), _page_faults_of_second_step("keep")
    assert default > 10_000  # glibc gave the 200 MB back and faults it in again, page by page
    assert kept < 1_000


def test_keep_freed_memory_is_a_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False
