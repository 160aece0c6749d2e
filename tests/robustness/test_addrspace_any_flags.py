"""AddrSpace with every one of the 64 flag sets, including those test_addrspace_stateful.py leaves
out of its page model: flags whose entries are not present, flags the seed's read-back panics on,
and huge-page flags the seed's `is_huge` does not recognise (a leaf it reads as a table pointer).

No page model here; what must hold for any flags: a failed call changes nothing, the tables stay a
tree of the space's own frames, the frame counts add up, a fault allocates at most one frame, and
`destroy` returns every frame.
"""

from __future__ import annotations

from typing import Any

from _robust import budget, count, read_tables
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from test_addrspace_stateful import ACCESS, AddrSpaceMachine, Page

from npt_explorer.engine import MappingFlags, PagingError
from npt_explorer.engine.formats import Encoding

K4 = 0x1000
ANY_FLAGS = st.integers(0, 63).map(MappingFlags)


class AnyFlagsMachine(AddrSpaceMachine):
    def flag_strategy(self, encoding: Encoding) -> st.SearchStrategy[MappingFlags]:
        return ANY_FLAGS

    def _record(self, got: Any, gpa: int, size: int, page: Page) -> None:
        if not isinstance(got, PagingError):
            for off in range(0, size, K4):
                self.pages[gpa + off] = page

    @rule(data=st.data(), huge=st.booleans())
    def map_linear(self, data: st.DataObject, huge: bool) -> None:
        gpa, hpa, size = data.draw(self.gpa), data.draw(self.hpa), data.draw(self.sizes)
        flags = data.draw(self.flags)
        got = self.call("map_linear", gpa, hpa, size, flags, huge=huge)
        self._record(got, gpa, size, Page("linear", hpa, flags))

    @rule(data=st.data(), populate=st.booleans())
    def map_alloc(self, data: st.DataObject, populate: bool) -> None:
        gpa, size, flags = data.draw(self.gpa), data.draw(self.sizes), data.draw(self.flags)
        got = self.call("map_alloc", gpa, size, flags, populate)
        self._record(got, gpa, size, Page("alloc", None, flags, populate, populate))

    @rule(data=st.data())
    def unmap(self, data: st.DataObject) -> None:
        gpa, size = self._range(data)
        if not isinstance(self.call("unmap", gpa, size), PagingError):
            for p in range(gpa, gpa + size, K4):
                self.pages.pop(p, None)

    @rule(data=st.data())
    def protect(self, data: st.DataObject) -> None:
        gpa, size = self._range(data)
        self.call("protect", gpa, size, data.draw(self.flags))

    @rule(data=st.data(), access=ACCESS)
    def handle_page_fault(self, data: st.DataObject, access: MappingFlags) -> None:
        gpa = self._target(data)
        before = self.alloc.in_use
        self.call("handle_page_fault", gpa, access)
        self.call("handle_page_fault", gpa, access)  # the same fault again
        assert self.alloc.in_use <= before + 1

    @rule(data=st.data())
    def translate(self, data: st.DataObject) -> None:
        got = self.call("translate", self._target(data))
        assert got is None or isinstance(got, int)

    write_then_read = None  # needs the model of what is backed (test_addrspace_stateful)

    @precondition(lambda self: hasattr(self, "space"))
    @invariant()
    def tables_map_exactly_the_model(self) -> None:
        """Only what holds for any flags: a tree of own frames, and the counts add up."""
        s = self.space
        count("addrspace any flags: steps checked")
        read_tables(s.pt)
        assert s.frames_in_use == self.alloc.in_use


AnyFlagsMachine.TestCase.settings = budget(60, stateful_step_count=30)
test_any_flags_keep_calls_atomic_and_frames_accounted = AnyFlagsMachine.TestCase
