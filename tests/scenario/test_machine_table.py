"""`[machine]` is read and written in one place: `MachineConfig.from_table` reads a table (the
scenario loader, the TUI's `arch` command and machine picker call it) and `to_table` writes
one (a saved TUI session), and what one writes the other reads back to the same machine.
A bad key or value is refused naming the key, the value and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npt_explorer.engine import ARCHES, PRESETS, BadValue, Encoding, MachineConfig, PagingError
from npt_explorer.scenario import bundled_dir, load
from npt_explorer.scenario.session import DEMO_DIR, Session

FILES = sorted(bundled_dir().glob("*.toml")) + sorted(DEMO_DIR.glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_bundled_machine_table_reads_back_from_what_it_writes(path: Path):
    config = load(path).config
    table = config.to_table()
    assert MachineConfig.from_table(table) == config
    # and the file's own table gives that machine too (the loader is a caller)
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert MachineConfig.from_table(doc.get("machine", {}), doc["scenario"]["arch"]) == config


@st.composite
def configs(draw: st.DrawFn) -> MachineConfig:
    """Any machine: every arch's modes, features, encodings, pools, TLBs and walk caches."""
    arch = draw(st.sampled_from(sorted(ARCHES)))
    spec = ARCHES[arch]
    ways = draw(st.integers(1, 8))
    caches = draw(
        st.lists(
            st.builds(
                dict,
                kind=st.just("psc"),
                stage=st.sampled_from([1, 2]),
                levels=st.lists(st.integers(0, 1), min_size=1, max_size=2),
                entries=st.just(8),
                ways=st.sampled_from([1, 2, 4, 8]),
            ),
            max_size=2,
        )
    )
    preset = draw(st.sampled_from([None, *PRESETS]))
    table = {
        "guest": draw(st.sampled_from([m for m in spec.guests if m != "custom"])),
        "npt": draw(st.sampled_from([m for m in spec.npts if m not in ("custom", "ostep")])),
        "features": draw(st.lists(st.sampled_from(spec.features), unique=True))
        if spec.features
        else [],
        "encoding": draw(st.sampled_from([str(e) for e in Encoding])),
        "guest_pt_pool": {
            "gpa": draw(st.integers(0, 1 << 20)) * 0x1000,
            "size": draw(st.integers(1, 256)) * 0x1000,
        },
        "map_pool": draw(st.booleans()),
        "tlb": draw(
            st.sampled_from([False, {"entries": ways * draw(st.integers(1, 16)), "ways": ways}])
        ),
        "walk_caches": {"caches": caches, **({"preset": preset} if preset else {})}
        if caches
        else (preset or False),
    }
    try:
        return MachineConfig.from_table(table, arch)
    except PagingError:  # a combination the formats refuse (xuantie-c9xx with svnapot)
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(configs())
def test_any_machine_reads_back_from_its_table(config: MachineConfig):
    assert MachineConfig.from_table(config.to_table()) == config


@pytest.mark.parametrize(
    "table",
    [
        {"guest": {"levels": 3, "index_bits": [4, 5, 6], "offset_bits": 7, "entry_bytes": 4}},
        {"geometry": "ostep", "npt": {"geometry": "6.823", "offset_bits": 13, "pfn_bit": 13}},
        {"geometry": "6.823", "guest": {"geometry": "ostep", "entry_bytes": 2}},
    ],
)
def test_a_teaching_machine_with_its_own_geometry_reads_back(table):
    config = MachineConfig.from_table(table, "teach")
    assert MachineConfig.from_table(config.to_table()) == config


def test_machines_without_a_tlb_are_one_machine_whatever_size_was_asked():
    a = MachineConfig(tlb_enabled=False, tlb_entries=128, tlb_ways=8)
    assert a == MachineConfig(tlb_enabled=False)
    assert a.to_table()["tlb"] is False


#: (arch, table, the key blamed, words of the message: the value and what is allowed)
BAD = [
    ("x86_64", {"page_size": "4K"}, "page_size", ["unknown key", "guest, npt, geometry"]),
    ("aarch64", {"guest": "sv39"}, "guest", ["'sv39'", "not a guest mode of aarch64", "va48"]),
    ("riscv64", {"npt": "ept4"}, "npt", ["'ept4'", "sv39x4, sv48x4"]),
    ("x86_64", {"features": ["hafdbs"]}, "features", ["hafdbs", "ept-ad, mbec"]),
    ("x86_64", {"features": "ept-ad"}, "features", ["a list", "ept-ad"]),
    ("x86_64", {"encoding": "packed"}, "encoding", ["'packed'", "seed, fixed"]),
    ("x86_64", {"geometry": "6.823"}, "geometry", ["'6.823'", 'arch = "teach"', "ostep"]),
    ("teach", {"guest": {"geometry": "6.824"}}, "guest.geometry", ["'6.824'", "6.823, ostep"]),
    ("teach", {"npt": {"page_bits": 12}}, "npt", ["page_bits", "geometry, levels"]),
    ("x86_64", {"guest_pt_pool": {"base": 0}}, "guest_pt_pool", ["'base'", "gpa, size"]),
    ("x86_64", {"guest_pt_pool": {"gpa": "0x12z"}}, "guest_pt_pool.gpa", ["'0x12z'", "number"]),
    ("x86_64", {"guest_pt_pool": {"size": "3Q"}}, "guest_pt_pool.size", ["'3Q'", '"2M"']),
    ("x86_64", {"guest_pt_pool": {"gpa": "0x800"}}, "guest_pt_pool", ["0x800", "4 KiB"]),
    ("x86_64", {"map_pool": "yes"}, "map_pool", ["'yes'", "true, false"]),
    ("x86_64", {"tlb": True}, "tlb", ["True", "{ entries, ways } or false"]),
    ("x86_64", {"tlb": {"entries": 10, "ways": 4}}, "tlb", ["entries=10", "multiple of ways"]),
    ("x86_64", {"tlb": {"entries": "many"}}, "tlb.entries", ["'many'", "a number"]),
    ("x86_64", {"walk_caches": "big"}, "walk_caches", ["'big'", "intel-psc"]),
    ("x86_64", {"registers": 5}, "registers", ["register = value"]),
    ("x86_64", {"registers": {"cr4": "x"}}, "registers.cr4", ["'x'", "a number"]),
    ("mips64", {}, "arch", ["'mips64'", "x86_64, aarch64"]),
]


@pytest.mark.parametrize(
    ("arch", "table", "key", "words"), BAD, ids=[f"{a}-{k}" for a, _, k, _ in BAD]
)
def test_a_bad_key_or_value_names_the_key_and_what_is_allowed(arch, table, key, words):
    with pytest.raises(BadValue) as info:
        MachineConfig.from_table(table, arch)
    err = info.value
    assert err.key == key
    assert err.message.startswith(f"{key}: ")
    for word in words:
        assert word in err.problem, (word, err.problem)


def test_the_table_arch_must_agree_with_the_machine_it_is_read_for():
    with pytest.raises(BadValue, match="arch: 'aarch64', but this machine is x86_64"):
        MachineConfig.from_table({"arch": "aarch64"}, "x86_64")


def test_a_rule_between_keys_is_a_paging_error_without_a_key():
    with pytest.raises(PagingError, match="disagrees with") as info:
        MachineConfig.from_table({"guest": "va39", "registers": {"tcr_el1": "0x10"}}, "aarch64")
    assert not isinstance(info.value, BadValue)


def test_a_saved_tui_session_reloads_to_the_same_machine(tmp_path: Path):
    config = MachineConfig.from_table(
        {
            "npt": "ept5",
            "features": ["ept-ad", "mbec"],
            "encoding": "seed",
            "guest_pt_pool": {"gpa": "0x10_0000", "size": "512K"},
            "tlb": {"entries": 32, "ways": 2},
            "walk_caches": {
                "preset": "intel-psc",
                "caches": [{"kind": "pwc", "levels": [0, 1], "entries": 8, "ways": 2}],
            },
        },
        "x86_64",
    )
    session = Session.demo("x86_64", config)
    assert load(session.save(tmp_path / "saved")).config == config


def test_a_saved_teaching_session_keeps_its_custom_geometry(tmp_path: Path):
    # written by hand before to_table, a `custom` stage lost its geometry and did not load
    config = MachineConfig.from_table(
        {"guest": {"levels": 2, "index_bits": [6, 6], "offset_bits": 8, "entry_bytes": 4}},
        "teach",
    )
    session = Session.demo("teach", config)
    assert load(session.save(tmp_path / "saved")).config == config


def test_the_tui_arch_command_reads_its_words_as_a_machine_table():
    from npt_explorer.tui.command_runner import arch_config

    name, config = arch_config(["riscv64", "npt=sv48x4", "features=svadu,svnapot"])
    assert (name, config) == (
        "riscv64",
        MachineConfig.from_table({"npt": "sv48x4", "features": ["svadu", "svnapot"]}, "riscv64"),
    )
    with pytest.raises(BadValue, match=r"encoding: 'dense' \(allowed: seed, fixed\)"):
        arch_config(["x86_64", "encoding=dense"])
