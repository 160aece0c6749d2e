"""Seeded random AArch64 two-stage cases with the 16 KiB or 64 KiB granule, in the qemu-oracle's
case format (../shared/qemu-oracle/README.md "Case format"), for the harness in
oracle_arm_granules.py. The oracle's own generator (gen_cases_arm.py) builds 4 KiB tables only.

Per case: stage 2 uses the case's granule (VTCR_EL2.TG0) with a random IPA size and every start
level the Arm ARM allows for it (SL0; concatenated roots follow from T0SZ); stage 1 (TTBR0_EL1)
uses the same granule or, in a third of the cases, another one (TCR_EL1.TG0), with a random
input size (T0SZ). Varied TCR/SCTLR/VTCR bits: IPS, HA (hardware AF), HPD0, EPD0, TBI0 and
TBID0 (a fifth of the accesses carry a tag in VA[63:56]), WXN, VTCR_EL2.PS and HA. Pages and
blocks of the granule at both stages (4K: 2M/1G, 16K: 32M, 64K: 512M); random AP/UXN/PXN/AF
and S2AP/XN/AF; mutations of valid/type bits, permissions, AF, hierarchical bits, RES0
address bits below the granule, OA[51:48] in bits 15:12 (64 KiB, FEAT_LPA) and output
addresses beyond PS/IPS; accesses from EL1 and EL0.

    python3 tests/image/gen_cases_arm_granules.py --granule 16 --seed 1 --count 200 --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

RAM_BASE = 0x4000_0000
TEST_AREA = (0x4040_0000, 0x4FE0_0000)
TABLE_ARENA = (0x4040_0000, 0x4100_0000)
DATA_ARENA = (0x4100_0000, 0x4FC0_0000)
OA_MASK = 0x0000_FFFF_FFFF_F000
G1 = 1 << 30
#: granule → TG0 encoding (TCR_EL1.TG0 and VTCR_EL2.TG0, Arm ARM D19) and block levels
TG0 = {0x1000: 0, 0x4000: 2, 0x1_0000: 1}
BLOCK_LEVELS = {0x1000: (1, 2), 0x4000: (2,), 0x1_0000: (2,)}
#: IPS / PS encodings → bits (no 52-bit: the engine's IPS/PS rows stop at 48)
PS_BITS = {2: 40, 3: 42, 4: 44, 5: 48}


@dataclass(frozen=True)
class Geo:
    """One stage's geometry: granule, input size, start level (Arm ARM D8.2)."""

    granule: int
    bits: int
    start: int

    @property
    def g(self) -> int:
        return self.granule.bit_length() - 1

    def shift(self, level: int) -> int:
        return self.g + (self.g - 3) * (3 - level)

    def index(self, addr: int, level: int) -> int:
        width = self.bits - self.shift(level) if level == self.start else self.g - 3
        return (addr >> self.shift(level)) & ((1 << width) - 1)

    def root_tables(self) -> int:
        return 1 << max(0, self.bits - self.shift(self.start) - (self.g - 3))

    def sizes(self) -> list[int]:
        """Mapping sizes: the page, then the blocks this granule has (no FEAT_LPA2)."""
        return [self.granule] + [1 << self.shift(lv) for lv in BLOCK_LEVELS[self.granule]]

    def level_of(self, size: int) -> int:
        return next(lv for lv in range(4) if 1 << self.shift(lv) == size)


def s1_start(granule: int, bits: int) -> int:
    g = granule.bit_length() - 1
    levels = -(-(bits - g) // (g - 3))
    return 4 - levels


def s2_starts(granule: int, bits: int) -> list[int]:
    """Start levels AArch64.S2InvalidSL / S2InconsistentSL allow for this IPA size (PAMax 48)."""
    g = granule.bit_length() - 1
    stride = g - 3
    ok = []
    for start in range(4):
        if start == 0 and granule != 0x1000:
            continue
        idx = bits - (g + stride * (3 - start))
        if 1 <= idx <= stride + 4:
            ok.append(start)
    return ok


def s1_attrs(attr=0, ap=0, af=1, ng=0, pxn=0, uxn=0) -> int:
    return (attr << 2) | (ap << 6) | (3 << 8) | (af << 10) | (ng << 11) | (pxn << 53) | (uxn << 54)


def s2_attrs(memattr=0xF, s2ap=3, af=1, xn=0) -> int:
    return (memattr << 2) | (s2ap << 6) | (3 << 8) | (af << 10) | (xn << 53)


def hx(v: int | None) -> str | None:
    return None if v is None else hex(v)


class Tables:
    """Stage-1 tables (TTBR0) at IPAs mapped by stage 2, and stage 2 (VTTBR) in hPA."""

    def __init__(self, s1: Geo, s2: Geo, rng: random.Random) -> None:
        self.s1, self.s2, self.rng = s1, s2, rng
        self.mem: dict[int, bytearray] = {}  # 4 KiB frames
        self.next = TABLE_ARENA[0]
        self.s2_root = self._alloc(s2.granule * s2.root_tables(), s2.granule * s2.root_tables())
        self.pool = 0x1000_0000  # IPA of the next stage-1 table
        self.pool_mapped = 0x1000_0000
        self.ipa_to_hpa: dict[int, int] = {}
        self.pattern: list[tuple[int, int]] = []
        self.s1_root_ipa = self._s1_table()

    def _alloc(self, size: int, align: int) -> int:
        a = (self.next + align - 1) & ~(align - 1)
        self.next = a + size
        assert self.next <= TABLE_ARENA[1], "table arena full"
        for f in range(a, a + size, 0x1000):
            self.mem[f] = bytearray(0x1000)
        return a

    def read(self, a: int) -> int:
        frame = self.mem.get(a & ~0xFFF)
        return 0 if frame is None else struct.unpack_from("<Q", frame, a & 0xFFF)[0]

    def write(self, a: int, v: int) -> None:
        struct.pack_into("<Q", self.mem[a & ~0xFFF], a & 0xFFF, v)

    def _s1_table(self) -> int:
        """A stage-1 table at the next pool IPA; stage 2 maps the pool a chunk at a time."""
        g1, g2 = self.s1.granule, self.s2.granule
        ipa = self.pool
        self.pool += g1
        if ipa >= self.pool_mapped:
            chunk = max(g1, g2)
            hpa = self._alloc(chunk, chunk)
            for off in range(0, chunk, g2):
                self.s2map(ipa + off, hpa + off, g2, s2_attrs(xn=2))
            for off in range(0, chunk, g1):
                self.ipa_to_hpa[ipa + off] = hpa + off
            self.pool_mapped = ipa + chunk
        return ipa

    def s2_slot(self, ipa: int, level: int) -> int:
        geo, base = self.s2, self.s2_root
        for lv in range(geo.start, level):
            slot = base + 8 * geo.index(ipa, lv)
            d = self.read(slot)
            if not d & 1:
                d = self._alloc(geo.granule, geo.granule) | 3
                self.write(slot, d)
            base = d & OA_MASK
        return base + 8 * geo.index(ipa, level)

    def s2map(self, ipa: int, hpa: int, size: int, attrs: int) -> None:
        level = self.s2.level_of(size)
        self.write(self.s2_slot(ipa, level), hpa | attrs | (3 if level == 3 else 1))

    def s1_slot(self, va: int, level: int) -> int:
        geo, base_ipa = self.s1, self.s1_root_ipa
        for lv in range(geo.start, level):
            slot = self.ipa_to_hpa[base_ipa] + 8 * geo.index(va, lv)
            d = self.read(slot)
            if not d & 1:
                d = self._s1_table() | 3
                self.write(slot, d)
            base_ipa = d & OA_MASK
        return self.ipa_to_hpa[base_ipa] + 8 * geo.index(va, level)

    def s1map(self, va: int, ipa: int, size: int, attrs: int) -> None:
        level = self.s1.level_of(size)
        self.write(self.s1_slot(va, level), ipa | attrs | (3 if level == 3 else 1))

    def data(self, hpa: int, size: int) -> None:
        if not any(a <= hpa < a + s for a, s in self.pattern):
            self.pattern.append((hpa, size))

    # structural walks (descriptor types only), to aim accesses at data pages
    def _walk(self, geo: Geo, base: int, addr: int, to_hpa) -> int | None:
        if addr >> geo.bits:
            return None
        for lv in range(geo.start, 4):
            table = to_hpa(base)
            if table is None:
                return None
            d = self.read(table + 8 * geo.index(addr, lv))
            if not d & 1 or (lv == 3 and not d & 2):
                return None
            if lv == 3 or not d & 2:
                size = 1 << geo.shift(lv)
                return (d & OA_MASK & ~(size - 1)) | (addr & (size - 1))
            base = d & OA_MASK
        return None

    def s2_walk(self, ipa: int) -> int | None:
        return self._walk(self.s2, self.s2_root, ipa, lambda a: a)

    def s1_walk(self, va: int) -> int | None:
        return self._walk(self.s1, self.s1_root_ipa, va, self.s2_walk)


class DataAlloc:
    def __init__(self, rng: random.Random) -> None:
        self.lo, self.hi, self.rng = DATA_ARENA[0], DATA_ARENA[1], rng

    def page(self, size: int) -> int:
        a = (self.lo + size - 1) & ~(size - 1)
        self.lo = a + size * self.rng.randint(1, 2)
        assert self.lo <= self.hi
        return a

    def chunk(self, size: int) -> int:
        self.hi = (self.hi - size) & ~(size - 1)
        assert self.hi >= self.lo
        return self.hi


def rnd_s1(rng: random.Random, user: bool) -> int:
    ap = rng.choice([1, 3]) if user else rng.choices([0, 1, 2, 3], [6, 1, 2, 1])[0]
    return s1_attrs(attr=rng.choices([0, 1], [19, 1])[0], ap=ap, af=rng.choices([1, 0], [9, 1])[0],
                    ng=rng.randrange(2), pxn=rng.choices([0, 1], [9, 1])[0],
                    uxn=rng.choices([0, 1], [9, 1])[0])  # fmt: skip


def rnd_s2(rng: random.Random) -> int:
    return s2_attrs(memattr=rng.choices([0xF, 0x0, 0x5], [18, 1, 1])[0],
                    s2ap=rng.choices([3, 1, 2, 0], [14, 3, 2, 1])[0],
                    af=rng.choices([1, 0], [9, 1])[0],
                    xn=rng.choices([0, 1, 2, 3], [14, 2, 3, 1])[0])  # fmt: skip


def pick_geometry(rng: random.Random, granule: int) -> tuple[Geo, Geo, int]:
    """(stage 1, stage 2, VTCR_EL2.PS): an IPA size and a valid start level for it."""
    while True:
        ipa_bits = rng.choice([36, 38, 40, 42, 44, 48])
        starts = s2_starts(granule, ipa_bits)
        if starts:
            break
    start = rng.choice(starts)
    # VTCR_EL2.PS at least the IPA size: QEMU 7.2 faults every walk otherwise (its check, not
    # the manual's) and at least 42/44 bits for a 16K/64K level-1 start (QEMU 7.2 reads PS
    # where the manual reads PAMax); above that, random
    need = max(ipa_bits, {0x4000: 42, 0x1_0000: 44}.get(granule, 44) if start <= 1 else 40)
    ps = rng.choice([p for p, b in PS_BITS.items() if b >= need])
    g1 = granule if rng.random() < 0.67 else rng.choice([g for g in TG0 if g != granule])
    va_bits = rng.choice([36, 39, 42, 44, 47, 48])
    return Geo(g1, va_bits, s1_start(g1, va_bits)), Geo(granule, ipa_bits, start), ps


def gen_case(rng: random.Random, name: str, granule: int) -> dict:
    s1, s2, ps = pick_geometry(rng, granule)
    t = Tables(s1, s2, rng)
    data = DataAlloc(rng)
    harness_slot = (1 << (s2.bits - 1)) >> 30
    islots = rng.sample(range(1, harness_slot), min(12, harness_slot - 1))
    vslots = rng.sample(range(1, min(1 << (s1.bits - 30), 1 << 18)), 12)
    groups = []
    for gi in range(rng.randint(2, min(6, len(islots) - 1))):
        s1_size = rng.choices(s1.sizes(), [6, 3, 1][: len(s1.sizes())])[0]
        s2_size = rng.choices(s2.sizes(), [6, 3, 1][: len(s2.sizes())])[0]
        user = rng.random() < 0.3
        islot = islots[gi] << 30
        if s2_size >= 512 << 20:  # the block covers all RAM: map it onto RAM's base
            i_base = islot + (rng.randrange(G1 // s2_size) * s2_size)
            h_base = RAM_BASE
            page = data.page(s2.granule)
            acc_ipa_page = i_base + (page - RAM_BASE)
        elif s2_size > s2.granule:
            i_base = islot + rng.randrange(G1 // s2_size) * s2_size
            h_base = data.chunk(s2_size)
            page = h_base + rng.randrange(s2_size // 0x1000) * 0x1000
            acc_ipa_page = i_base + (page - h_base)
        else:
            i_base = islot + rng.randrange(G1 // s2_size) * s2_size
            h_base = page = data.page(s2_size)
            acc_ipa_page = i_base
        t.s2map(i_base, h_base, s2_size, rnd_s2(rng))
        t.data(page & ~(s2.granule - 1), s2.granule)  # blocks: the aimed-at page only
        v_ipa = acc_ipa_page & ~(s1_size - 1)
        v_base = (vslots[gi] << 30) + (
            rng.randrange(G1 // s1_size) * s1_size if s1_size < G1 else 0
        )
        t.s1map(v_base, v_ipa, s1_size, rnd_s1(rng, user))
        groups.append({"s1": s1_size, "s2": s2_size, "user": user, "v_base": v_base,
                       "v_ipa": v_ipa, "i_base": i_base, "acc_ipa_page": acc_ipa_page})  # fmt: skip
    if rng.random() < 0.5:  # a stage-1 page whose IPA has no stage-2 mapping
        gi = len(groups)
        ipa = (islots[gi] << 30) + rng.randrange(G1 // s1.granule) * s1.granule
        t.s1map(vslots[gi] << 30, ipa, s1.granule, s1_attrs())
        groups.append({"s1": s1.granule, "s2": None, "user": False, "v_base": vslots[gi] << 30,
                       "v_ipa": ipa, "i_base": None, "acc_ipa_page": ipa})  # fmt: skip

    accesses = aim_accesses(t, rng, groups)
    mutations = [m for m in (mutate(t, rng, groups) for _ in range(rng.choices(
        [0, 1, 2, 3], [3, 4, 2, 1])[0])) if m]  # fmt: skip
    return case_json(t, rng, name, accesses, mutations, ps)


def aim_accesses(t: Tables, rng: random.Random, groups: list[dict]) -> list[dict]:
    accesses: list[dict] = []
    n_acc, tries = rng.randint(6, 14), 0
    while len(accesses) < n_acc and tries < 200:
        tries += 1
        kind = rng.choices(["read", "write", "exec"], [5, 3, 2])[0]
        g = rng.choice(groups)
        priv = "user" if g["user"] else "kernel"
        if rng.random() < 0.15:
            priv = "kernel" if priv == "user" else "user"
        word = rng.randrange(512) * 8 + (4 if kind == "exec" else 0)
        r = rng.random()
        if r < 0.8:
            va = g["v_base"] + (g["acc_ipa_page"] + word - g["v_ipa"])
        elif r < 0.9:
            va = g["v_base"] + rng.randrange(g["s1"] // 0x1000) * 0x1000 + word
        else:
            va = (rng.randrange(1 << t.s1.bits) & ~0xFFF) + word
        ipa = t.s1_walk(va)
        hpa = None if ipa is None else t.s2_walk(ipa)
        if hpa is not None:
            if hpa & ~0xFFF in t.mem or not TEST_AREA[0] <= hpa < TEST_AREA[1]:
                continue
            t.data(hpa & ~0xFFF, 0x1000)
        accesses.append({"gva": hx(va), "access": kind, "priv": priv})
    return accesses


def mutate(t: Tables, rng: random.Random, groups: list[dict]) -> dict | None:
    g = rng.choice([x for x in groups if x["s2"] is not None])
    target = rng.choices(["s1_leaf", "s1_table", "s2_leaf", "s2_table", "s2_of_s1_table"],
                         [4, 3, 4, 2, 2])[0]  # fmt: skip
    stage1 = target.startswith("s1")
    geo = t.s1 if stage1 else t.s2
    if target == "s1_leaf":
        lvl = geo.level_of(g["s1"])
        slot = t.s1_slot(g["v_base"], lvl)
    elif target == "s2_leaf":
        lvl = geo.level_of(g["s2"])
        slot = t.s2_slot(g["i_base"], lvl)
    elif target in ("s1_table", "s2_table"):
        leaf = geo.level_of(g["s1"] if stage1 else g["s2"])
        if leaf <= geo.start:
            return None
        lvl = rng.randrange(geo.start, leaf)
        slot = t.s1_slot(g["v_base"], lvl) if stage1 else t.s2_slot(g["i_base"], lvl)
    else:
        ipa = rng.choice(sorted(t.ipa_to_hpa))
        lvl = t.s2.level_of(t.s2.granule)
        slot = t.s2_slot(ipa, lvl)
    old = t.read(slot)
    if not old & 1:
        return None
    table = lvl < 3 and old & 2
    kinds = ["clear_valid", "swap_type", "oa_high", "oa_res0"]
    if geo.granule == 0x4000:
        kinds.append("oa_low")  # bits 13:12: RES0 below a 16 KiB-aligned output address
    if geo.granule == 0x1_0000:
        kinds.append("oa_51_48")  # bits 15:12 are OA[51:48] with FEAT_LPA (QEMU -cpu max)
    if table:
        kinds += ["aptable", "uxntable", "pxntable"] if stage1 else []
    elif stage1:
        kinds += ["clear_af", "ap", "uxn", "pxn", "attr_device"]
    else:
        kinds += ["clear_af", "s2ap", "xn", "memattr_device"]
    kind = rng.choice(kinds)
    if kind == "swap_type" and old & OA_MASK == RAM_BASE:
        return None  # a table at RAM's base would be the stub's code, which no image holds
    flips = {
        "clear_valid": lambda v: v & ~1,
        "swap_type": lambda v: v ^ 2,  # table <-> block, page -> reserved (level 3)
        "clear_af": lambda v: v & ~(1 << 10),
        "oa_high": lambda v: v | 1 << rng.choice([40, 42, 44, 47]),
        "oa_res0": lambda v: v | 1 << rng.choice([48, 49, 50, 51]),
        "oa_low": lambda v: v | 1 << rng.choice([12, 13]),
        "oa_51_48": lambda v: v | 1 << rng.choice([12, 13, 14, 15]),
        "aptable": lambda v: v | rng.choice([1, 2, 3]) << 61,
        "uxntable": lambda v: v | 1 << 60,
        "pxntable": lambda v: v | 1 << 59,
        "ap": lambda v: (v & ~(3 << 6)) | rng.randrange(4) << 6,
        "uxn": lambda v: v ^ 1 << 54,
        "pxn": lambda v: v ^ 1 << 53,
        "attr_device": lambda v: (v & ~(7 << 2)) | 1 << 2,
        "s2ap": lambda v: (v & ~(3 << 6)) | rng.randrange(4) << 6,
        "xn": lambda v: (v & ~(3 << 53)) | rng.randrange(4) << 53,
        "memattr_device": lambda v: v & ~(0xF << 2),
    }
    new = flips[kind](old)
    if new == old:
        return None
    t.write(slot, new)
    return {"stage": 1 if stage1 else 2, "target": target, "level": lvl, "entry_hpa": hx(slot),
            "kind": kind, "old": hx(old), "new": hx(new)}  # fmt: skip


def case_json(t: Tables, rng: random.Random, name: str, accesses: list, mutations: list,
              ps: int) -> dict:  # fmt: skip
    sl0 = (2 if t.s2.granule == 0x1000 else 3) - t.s2.start
    vtcr = (64 - t.s2.bits) | sl0 << 6 | 1 << 8 | 1 << 10 | 3 << 12 | TG0[t.s2.granule] << 14
    vtcr |= ps << 16 | 1 << 31
    if rng.random() < 0.2:
        vtcr |= 1 << 21  # VTCR_EL2.HA: hardware sets the stage-2 AF
    # TCR_EL1.IPS: usually wide enough for the harness IPA (top half of the IPA space); the
    # driver refuses narrower ones, so a narrow IPS is never generated
    ips = rng.choice([p for p, b in PS_BITS.items() if b >= t.s2.bits])
    tcr = (64 - t.s1.bits) | 1 << 8 | 1 << 10 | 3 << 12 | TG0[t.s1.granule] << 14 | ips << 32
    for bit, p in ((39, 0.2), (41, 0.15), (7, 0.03), (37, 0.4), (51, 0.1)):  # HA, HPD0, EPD0,
        if rng.random() < p:  # TBI0, TBID0
            tcr |= 1 << bit
    for a in accesses:  # a tag in VA[63:56] (VA[55] = 0: the TTBR0 range)
        if rng.random() < 0.2:
            a["gva"] = hx(int(a["gva"], 16) | rng.randrange(1, 256) << 56)
    regs = {"vtcr_el2": hx(vtcr), "vttbr_el2": hx(rng.randrange(1, 256) << 48 | t.s2_root),
            "tcr_el1": hx(tcr), "ttbr0_el1": hx(rng.randrange(256) << 48 | t.s1_root_ipa),
            "mair_el1": "0xff"}  # fmt: skip
    if rng.random() < 0.1:
        regs["sctlr_el1"] = hx(0x30D0_0800 | 0x1005 | 1 << 19)  # + WXN
    memory = []
    for p in sorted(t.mem):
        words = {str(i): hx(v) for i in range(512) if (v := t.read(p + 8 * i))}
        if words:
            memory.append({"hpa": hx(p), "size": "0x1000", "words": words})
    memory += [{"hpa": hx(a), "size": hx(s), "fill": "pattern"} for a, s in t.pattern]
    return {"name": name, "arch": "aarch64", "cpu": "max", "regs": regs, "memory": memory,
            "accesses": accesses, "mutations": mutations,
            "modes": {"s1": vars(t.s1), "s2": vars(t.s2)}}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--granule", type=int, choices=(16, 64), required=True, help="KiB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        seed = f"arm{args.granule}k:{args.seed}:{i}"
        case = gen_case(random.Random(seed), f"arm{args.granule}k_{i:04d}", args.granule << 10)
        case["seed"] = seed
        (out / f"{case['name']}.json").write_text(json.dumps(case, indent=1) + "\n")
    print(f"wrote {args.count} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
