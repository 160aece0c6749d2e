"""`npt-explorer trace FILE`: a program's pages mapped, the trace replayed, the cost reported;
bad files exit 2 with file and line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npt_explorer.cli import main

# gVA 0x4000_0000 and its neighbour page. The trace machine's guest tables sit in the pool at
# gPA 0x10_0000.. (root, PDPT, PD, PT: all under EPT PDE 0); the data pages get gPA slots
# 0x4000_0000 and 0x4000_1000 (EPT PDPTE index 1).
TRACE = "0x40000000\n0x40000008 W\n0x40001000\n"


def run(capsys, *argv):
    code = main(["trace", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_text_trace_walks_twice_and_hits_once(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(TRACE)
    code, out, _ = run(capsys, str(path), "--json")
    doc = json.loads(out)
    # the write after a read of the same page finds a clean entry and walks again (it sets D);
    # that walk takes the final gPA from the stage-2-only entry the read filled (EPT without
    # A/D tracks no D): 20 references.  24 + 20 + 24.
    assert code == 0
    assert (doc["accesses"], doc["hits"], doc["walks"], doc["refs"]) == (3, 0, 3, 68)
    assert doc["kinds"] == {"read": 2, "write": 1} and doc["page_sizes"] == {"0x1000": 3}


def test_intel_psc_trace_counts_memory_references_as_worked_out(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("0x40000000\n0x40001000\n")
    code, out, _ = run(capsys, str(path), "--walk-caches", "intel-psc", "--json")
    doc = json.loads(out)
    # first walk: guest root's nested walk 4, guest PML4E 1, then PDPT, PD, PT: EPT PDE cache
    # hit + 1 read each and the entry (3 x 2); final gPA 0x4000_0000: EPT PML4 cache hit, EPT
    # PDPTE, PDE, PTE read (3): 14.  Second: PDE cache skips 15; PT's nested walk 1 + PTE 1 +
    # final (EPT PDE cache hit) 1: 3.
    assert (doc["walks"], doc["refs"], doc["mem_refs"]) == (2, 48, 17)
    assert doc["served"]["PDE cache"] == 15


def test_native_counts_only_the_guest_walk(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("0x40000000\n")
    assert json.loads(run(capsys, str(path), "--native", "--json")[1])["refs"] == 4


def test_2m_pages_at_both_stages_shorten_the_walk(tmp_path, capsys):
    # the guest PDE is the leaf (3 guest levels); the guest tables stay on the pool's 4 KiB EPT
    # pages (4 per nested walk); the final gPA's EPT PDE is a leaf (3): 3 x (4 + 1) + 3
    path = tmp_path / "t.txt"
    path.write_text("0x40000000\n")
    doc = json.loads(run(capsys, str(path), "--s1-page", "2M", "--s2-page", "2M", "--json")[1])
    assert (doc["refs"], doc["page_sizes"]) == (18, {"0x200000": 1})


def test_the_report_names_hit_rate_and_references(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(TRACE)
    code, out, _ = run(capsys, str(path), "--walk-caches", "amd-pwc-ntlb")
    assert code == 0 and "TLB hit rate" in out and "to memory" in out and "NTLB" in out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.lackey", "I  0401b7a7,4\nnonsense\n", "bad.lackey:2: not a Lackey line"),
        ("bad.txt", "0x1000\n0xzz\n", "bad.txt:2: '0xzz' is not a 64-bit hex address"),
        ("empty.txt", "", "no accesses"),
    ],
)
def test_bad_trace_files_exit_2_with_file_and_line(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == "" and message in err and "Traceback" not in err


def test_a_truncated_npy_exits_2(tmp_path, capsys):
    path = tmp_path / "cut.npy"
    np.save(path, np.arange(100, dtype=np.uint64) << np.uint64(12))
    path.write_bytes(path.read_bytes()[:-50])
    code, _, err = run(capsys, str(path))
    assert code == 2 and "cut.npy" in err


def test_a_missing_file_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, str(tmp_path / "nope.txt"))
    assert code == 2 and "nope.txt" in err
