"""Trace files: Valgrind Lackey logs, plain hex text and numpy arrays read in chunks; bad files
name the file and the line (or element)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npt_explorer.traces.files import TraceFileError, guess_format, prefetch, read, text_line

LACKEY = """==2563== Lackey, an example Valgrind tool
==2563== Command: ls /
I  0401b7a7,4
 S 1fff0006d8,8
 L 04222ca8,8
 M 0025747C,1

==2563==
"""


def accesses(path, fmt=None, chunk=1 << 20):
    chunks = list(read(path, fmt, chunk))
    return np.concatenate([a for a, _ in chunks]).tolist(), np.concatenate(
        [k for _, k in chunks]
    ).tolist()


def test_lackey_lines_become_fetches_loads_and_stores(tmp_path):
    path = tmp_path / "ls.lackey"
    path.write_text(LACKEY)
    assert guess_format(path) == "lackey"
    # I = exec (2), S = write (1), L = read (0), M = load + store through one translation: write
    assert accesses(path) == (
        [0x0401B7A7, 0x1FFF0006D8, 0x04222CA8, 0x0025747C],
        [2, 1, 0, 1],
    )


def test_chunks_split_a_trace_without_losing_accesses(tmp_path):
    path = tmp_path / "t.lackey"
    path.write_text(LACKEY)
    assert [len(a) for a, _ in read(path, chunk=3)] == [3, 1]


def test_text_takes_hex_with_optional_kind_before_or_after(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("# a comment\n0x1000\n2000 W\nX 0x3000  # fetch\n\nr 4008\n")
    assert guess_format(path) == "text"
    assert accesses(path) == ([0x1000, 0x2000, 0x3000, 0x4008], [0, 1, 2, 0])


def test_npy_one_column_two_columns_and_structured(tmp_path):
    one, two, rec = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npy"
    np.save(one, np.array([0x1000, 0x2000], dtype=np.uint64))
    np.save(two, np.array([[0x1000, 1], [0x2000, 2]], dtype=np.uint64))
    np.save(rec, np.array([(0x1000, 2)], dtype=[("addr", "<u8"), ("kind", "u1")]))
    assert accesses(one) == ([0x1000, 0x2000], [0, 0])
    assert accesses(two) == ([0x1000, 0x2000], [1, 2])
    assert accesses(rec) == ([0x1000], [2])


@pytest.mark.parametrize(
    ("name", "content", "fmt", "where"),
    [
        ("garbage.lackey", LACKEY.replace(" L 04222ca8,8", "hello world"), "lackey", ":5:"),
        ("nocomma.lackey", "I  0401b7a7,4\n L 04222ca8\n", "lackey", ":2:"),
        ("toolong.lackey", "I  0401b7a7,4\n L 1234567890abcdef1,8\n", "lackey", ":2:"),
        ("garbage.txt", "0x1000\nzz top\n", "text", ":2:"),
        ("three.txt", "0x1000 W X\n", "text", ":1:"),
        ("huge.txt", "0x1000\n0x10000000000000000\n", "text", ":2:"),
        ("empty.lackey", "", "lackey", "no accesses"),
        ("only-valgrind.lackey", "==1== Lackey\n", "lackey", "no accesses"),
        ("empty.txt", "\n# nothing\n", "text", "no accesses"),
    ],
)
def test_a_bad_text_trace_names_its_file_and_line(tmp_path, name, content, fmt, where):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TraceFileError) as err:
        accesses(path, fmt)
    assert str(err.value).startswith(str(path)) and where in str(err.value)


def test_a_truncated_npy_is_refused(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.arange(1000, dtype=np.uint64))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TraceFileError, match="not a readable .npy"):
        accesses(path)


def test_npy_with_a_kind_outside_0_to_2_names_the_element(tmp_path):
    path = tmp_path / "k.npy"
    np.save(path, np.array([[0x1000, 0], [0x2000, 7]], dtype=np.uint64))
    with pytest.raises(TraceFileError, match="element 1: kind 7"):
        accesses(path)


@pytest.mark.parametrize("where", ["nul\x00name.txt", "."])
def test_an_unreadable_path_is_a_trace_file_error_not_a_crash(tmp_path, where):
    with pytest.raises(TraceFileError, match="cannot read"):
        accesses(tmp_path / where)


def test_prefetch_hands_on_the_chunks_in_order_then_the_error_where_it_came():
    def chunks():
        for k in range(3):
            yield np.array([k], dtype=np.uint64), np.zeros(1, dtype=np.uint8)
        raise TraceFileError("t.lackey", 7, "not a Lackey line")

    seen = []
    with pytest.raises(TraceFileError, match="t.lackey:7"):
        for addrs, _ in prefetch(chunks()):
            seen.append(int(addrs[0]))
    assert seen == [0, 1, 2]


def test_prefetch_stops_its_reader_when_the_replay_stops_early():
    def endless():
        while True:
            yield np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint8)

    reader = prefetch(endless())
    next(reader)
    reader.close()  # joins the reader thread: it must notice and return
    assert not [t for t in threading.enumerate() if t.name == "trace-reader"]


_LINE = st.builds(
    lambda before, zx, digits, after, tail: f"{before}{zx}{digits}{after}{tail}",
    st.sampled_from(["", "W ", "r ", "X ", "x ", " ", "\t", "R,", "q "]),
    st.sampled_from(["", "0x", "0X"]),
    st.text("0123456789abcdefABCDEF", min_size=0, max_size=18),
    st.sampled_from(["", " W", " x", " R", "  w", ",X", " z", "\r"]),
    st.sampled_from(["", "", " # note", "#"]),
)


@given(lines=st.lists(_LINE, min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_the_vector_text_reader_reads_what_the_line_reader_reads(tmp_path_factory, lines):
    # every line through the one-line reader (the rules) against the block reader (numpy for
    # plain lines): the same accesses, or the same error on the same line
    path = tmp_path_factory.mktemp("t") / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    expected, error = [], None
    for n, line in enumerate(lines, 1):
        try:
            parsed = text_line(line.encode(), str(path), n)
        except TraceFileError as err:
            error = str(err)
            break
        if parsed is not None:
            expected.append(parsed)
    if error is None and not expected:
        error = "no accesses"
    if error is not None:
        with pytest.raises(TraceFileError) as got:
            accesses(path, "text")
        assert error in str(got.value) or str(got.value).endswith(error)
    else:
        addrs, kinds = accesses(path, "text")
        assert list(zip(addrs, kinds, strict=True)) == expected
