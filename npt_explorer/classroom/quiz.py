"""Quiz problems generated from the engine (OSTEP-style: a seeded machine, a question, the
answer revealed on request).

A problem is a short scenario — commands in the one vocabulary of scenario files and the TUI's
command line — and parts that each name one value of one step's replay result (a path into
the step's `replay --json` document, e.g. ``fault.syndrome.exit_qualification``). Answers are
read from the engine's own results, never computed here, so `replay` of the exported scenario
gives the same values. The same seed gives the same problems.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine import ARCHES, FLUSHES, Encoding, Machine, MachineConfig, MappingFlags, get_format
from ..scenario import Command, CommandError, build, parse_line, parse_number
from ..scenario.results import StepResult
from ..scenario.runner import execute

TOPICS = ("walk", "faults", "tlb", "huge", "seed-bugs")
#: the architectures a mixed quiz draws from (the three nested-paging schemes of the lessons)
MIX_ARCHES = ("x86_64", "aarch64", "riscv64")
#: every architecture with quiz problems (`--arch loongarch64` asks for LVZ's by name)
QUIZ_ARCHES = (*MIX_ARCHES, "loongarch64")
#: architectures with no quiz problems, and why (asking for one says so, by name)
NO_QUIZ = {
    "teach": "the teaching geometry has no huge pages and no syndrome to ask about: teach "
    "with its scenarios (scenarios/teach_*.toml)",
}
#: a `guest=`/`npt=` value that draws the mode per problem from the arch's modes
ANY_MODE = "any"
_MAX_TRIES = 40
QUIZ_POOL_SIZE = 0x1_0000

#: replay-JSON path → the step `expect` key that checks the same value (SCENARIO_FORMAT.md
#: "Expectations"); paths without one (e.g. one reference of a walk) are checked by the tests
EXPECT_KEY = {
    "result": "result",
    "gpa": "gpa",
    "hpa": "hpa",
    "refs": "refs",
    "tlb": "tlb",
    "page_size": "page_size",
    "fault.stage": "fault_stage",
    "fault.depth": "fault_depth",
    "fault.reason": "fault_reason",
}
#: per arch: the syndrome values a fault problem asks for, in order of preference
SYNDROME_KEYS = {
    "x86_64": ("exit_qualification", "error_code", "exitinfo1", "exitinfo2"),
    "aarch64": ("ec", "fsc"),
    "riscv64": ("scause", "htval", "stval"),
    "loongarch64": ("ecode", "esubcode", "badv"),
}
#: stage-2 flags a seed-bugs problem maps with (the seed's conversions differ on these)
_SEED_FLAGS = ("rw", "rwx", "rx", "w", "r", "x", "rwd", "rwc")
_HEX_KEYS = ("gpa", "hpa", "entry_hpa", "entry_addr", "raw", "syndrome")


@dataclass(frozen=True, slots=True)
class Part:
    """One question about one step: `key` is a path into that step's replay JSON."""

    prompt: str
    step: int  # 1-based, as replay numbers steps
    key: str
    answer: int | str
    explanation: str = ""
    choices: tuple[Command, ...] = ()  # a choice part: the answer is one of these commands
    hide_from: int = 0  # the first step that gives the answer away (0: `step` itself)

    @property
    def hex(self) -> bool:
        return any(k in self.key for k in _HEX_KEYS) and not self.key.endswith(
            ("ec", "scause", "ecode", "esubcode")
        )

    def shown(self) -> str:
        """The answer as the key prints it."""
        if self.choices:
            return f"{_letter(self.choice_index)}) {self.answer}"
        if isinstance(self.answer, int) and self.hex:
            return f"{self.answer:#x}"
        return str(self.answer)

    @property
    def choice_index(self) -> int:
        return [c.to_line() for c in self.choices].index(str(self.answer))

    def accepts(self, text: str) -> bool:
        """Is `text` a right answer? Numbers compare by value (hex, decimal, 4K…), words
        case-blind, a choice by its letter or its command."""
        text = text.strip()
        if self.choices:
            if len(text) == 1 and text.isalpha():
                return ord(text.lower()) - ord("a") == self.choice_index
            try:
                return parse_line(text).to_line() == self.answer
            except CommandError:
                return False
        if isinstance(self.answer, int):
            try:
                return parse_number(text, self.key, size=True) == self.answer
            except CommandError:
                return False
        return text.lower() == str(self.answer).lower()


@dataclass(frozen=True, slots=True)
class Problem:
    number: int
    topic: str
    config: MachineConfig
    steps: tuple[Command, ...]
    parts: tuple[Part, ...]
    context: str  # facts the student needs that the commands do not say (roots)

    @property
    def arch(self) -> str:
        return self.config.arch

    @property
    def premise(self) -> int:
        """How many steps a student may see run before answering (the TUI runs them)."""
        return min(len(self.steps), *((p.hide_from or p.step) - 1 for p in self.parts))

    def scenario_toml(self, choice: Command | None = None) -> str:
        """The problem as a scenario file whose steps `expect` the answers, so `replay
        --check` confirms the key. A choice part appends `choice` (default: the answer) and
        an `expect` that no stale TLB entry is left."""
        c = self.config
        lines = [
            "[scenario]",
            f'title = "quiz problem {self.number} ({self.topic})"',
            f'arch = "{c.arch}"',
            "",
            "[machine]",
            f'guest = "{c.guest}"',
            f'npt = "{c.npt}"',
            f'encoding = "{c.encoding}"',
            f'guest_pt_pool = {{ gpa = "{c.pool_gpa:#x}", size = "{c.pool_size:#x}" }}',
            "",
        ]
        expects: dict[int, dict[str, Any]] = {}
        for part in self.parts:
            key = EXPECT_KEY.get(part.key)
            if key is not None:
                expects.setdefault(part.step, {})[key] = part.answer
            elif part.key.startswith("fault.syndrome."):
                syn = expects.setdefault(part.step, {}).setdefault("syndrome", {})
                syn[part.key.rsplit(".", 1)[1]] = part.answer
        steps = []
        for n, cmd in enumerate(self.steps, 1):
            args = dict(cmd.args)
            if n in expects:
                args["expect"] = expects[n]
            steps.append(Command(cmd.op, args))
        for part in self.parts:
            if part.key == "entry.raw":
                n = part.step - 1
                steps[n] = Command("expect", {**steps[n].args, "raw": part.answer})
            if part.choices:
                steps.append(choice or parse_line(str(part.answer)))
                steps.append(Command("expect", {"stale_entries": 0}))
        return "\n".join(lines) + "\n\n".join(s.to_toml() for s in steps) + "\n"

    def to_json(self, answers: bool) -> dict[str, Any]:
        parts = []
        for p in self.parts:
            doc: dict[str, Any] = {"prompt": p.prompt, "step": p.step, "key": p.key}
            if p.choices:
                doc["choices"] = [c.to_line() for c in p.choices]
            if answers:
                doc["answer"] = p.shown() if p.choices else _json_value(p)
                doc["explanation"] = p.explanation
            parts.append(doc)
        return {
            "number": self.number,
            "topic": self.topic,
            "arch": self.arch,
            "machine": {
                "guest": self.config.guest,
                "npt": self.config.npt,
                "encoding": str(self.config.encoding),
            },
            "context": self.context,
            "steps": [c.to_line() for c in self.steps],
            "parts": parts,
        }


def _json_value(p: Part) -> int | str:
    return f"{p.answer:#x}" if isinstance(p.answer, int) and p.hex else p.answer


def _letter(i: int) -> str:
    return chr(ord("a") + i)


# ------------------------------------------------------------------------------ running


def value_at(doc: dict[str, Any], path: str) -> Any:
    """`doc["fault"]["syndrome"]["fsc"]` for ``fault.syndrome.fsc``; list items by number."""
    value: Any = doc
    for word in path.split("."):
        value = value[int(word)] if isinstance(value, list) else value[word]
    return value


def _number_or_word(value: Any) -> int | str:
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return value


@dataclass(slots=True)
class _Run:
    machine: Machine
    results: list[StepResult] = field(default_factory=list)

    def doc(self, step: int) -> dict[str, Any]:
        return self.results[step - 1].to_json()

    def answer(self, step: int, key: str) -> int | str:
        return _number_or_word(value_at(self.doc(step), key))


def play(config: MachineConfig, steps: Sequence[Command]) -> _Run | None:
    """Run `steps` on a fresh machine; None when one fails (the draw does not make a problem)."""
    run = _Run(Machine(config))
    for n, cmd in enumerate(steps, 1):
        result = execute(run.machine, cmd, n)
        if not result.ok:
            return None
        run.results.append(result)
    return run


# ------------------------------------------------------------------------------ drawing


@dataclass(slots=True)
class _Draw:
    """One problem's random choices: a stage-2 region, a stage-1 map over it, an access."""

    rng: random.Random
    arch: str
    guest: str = ""  # the machine's modes ("": the arch's defaults)
    npt: str = ""
    gpa: int = 0
    hpa: int = 0
    gva: int = 0
    size: int = 0  # the stage-1 mapping's size

    def layout(
        self,
        *,
        s1_flags: str = "rw",
        s2_flags: str = "rwx",
        huge_s1: bool = False,
        huge_s2: bool = False,
        pages: int = 4,
    ) -> list[Command]:
        """A stage-2 region (linear; a huge page's size when a stage maps huge, else 64 KiB)
        and a stage-1 map of `pages` pages (or one guest huge page) in it. The guest's huge
        page is 2 MiB but for a 32-bit guest (4 MiB, CR4.PSE)."""
        r = self.rng
        huge = max(self.guest_huge, 0x20_0000)
        scale = huge >> 21  # 1 but for 4 MiB: the same draws, 4 MiB-aligned
        region = r.randrange(1, 256 // scale) << (20 + scale)  # above the guest pool at 1 MiB
        self.hpa = 0x8000_0000 + (r.randrange(0, 512 // scale) << (20 + scale))
        self.gva = r.randrange(1, 1 << (self.va_bits - 20 - scale)) << (20 + scale)
        big = huge_s1 or huge_s2
        first = 0 if huge_s1 else r.randrange(0, (512 if big else 16) - pages)
        self.gpa = region + (first << 12)
        self.size = huge if huge_s1 else pages << 12
        s2_size = f"{huge >> 20}M" if big else "64K"
        s2 = f"map stage=2 gpa={region:#x} size={s2_size} flags={s2_flags} hpa={self.hpa:#x}"
        s1 = f"map stage=1 gva={self.gva:#x} gpa={self.gpa:#x} size={self.size:#x} flags={s1_flags}"
        self.hpa += first << 12
        return [
            parse_line(s2 + (" huge=true" if huge_s2 else "")),
            parse_line(s1 + (" huge=true" if huge_s1 else "")),
        ]

    @property
    def guest_huge(self) -> int:
        """The guest mode's smallest page above 4 KiB (its leaf's parent level)."""
        spec = ARCHES[self.arch]
        name, options = spec.guests[self.guest or spec.default_guest]
        fmt = get_format(name, **options)
        return 1 << fmt.levels[fmt.leaf_depth - 1].shift

    @property
    def va_bits(self) -> int:
        """The bits a generated gVA stays below: the lower half of the guest mode's input
        (31 for a PAE guest, 47 for 4-level, 56 for 5-level, 38 for Sv39 …)."""
        spec = ARCHES[self.arch]
        name, options = spec.guests[self.guest or spec.default_guest]
        return int(get_format(name, **options).input_bits) - 1

    def config(self, **options: Any) -> MachineConfig:
        """A quiz machine in the draw's modes, with a 64 KiB guest page-table pool (enough
        for every problem, and 16 frames instead of 256 to build)."""
        return MachineConfig(
            arch=self.arch, guest=self.guest, npt=self.npt, pool_size=QUIZ_POOL_SIZE, **options
        )

    def address(self, page: int | None = None) -> int:
        """A gVA inside the stage-1 map (in `page` when given), 8-byte aligned."""
        if page is None:
            return self.gva + (self.rng.randrange(0, self.size) & ~7)
        return self.gva + (page << 12) + (self.rng.randrange(0, 0x1000) & ~7)

    def access(self, gva: int, kind: str = "read", priv: str = "kernel") -> Command:
        extra = "" if priv == "kernel" else f" priv={priv}"
        return parse_line(f"access gva={gva:#x} access={kind}{extra}")


def _walk_cost(doc: dict[str, Any]) -> str:
    steps = doc["walk"]
    s1 = sum(1 for s in steps if s["stage"] == 1)
    s2 = len(steps) - s1
    walks = sum(1 for s in steps if s["stage"] == 2 and s["depth"] == 0)
    return (
        f"{s1} guest entries, each at a gPA that stage 2 must translate first, plus the final "
        f"gPA: {walks} stage-2 walks with {s2} reads; {s1} + {s2} = {len(steps)}"
    )


def _header(run: _Run) -> str:
    m = run.machine
    return (
        f"{m.arch} (guest {m.config.guest}, npt {m.config.npt}, {m.config.encoding} encoding); "
        f"the guest's root table is at gPA {m.guest_root:#x} (its tables come from the pool "
        f"there, one 4 KiB frame each in ascending order); the stage-2 root is at hPA "
        f"{m.npt.root:#x}"
    )


# ------------------------------------------------------------------------------ topics

#: a topic's maker: the machine, the steps, and how to read the parts off their results
Made = tuple[MachineConfig, list[Command], Callable[[_Run], list[Part]]]


def _walk(d: _Draw) -> Made:
    steps = d.layout(s1_flags=d.rng.choice(("rw", "rwx", "r")))
    steps.append(d.access(d.address()))
    n = len(steps)
    variant = d.rng.choice(("addresses", "refs", "next"))

    def parts(run: _Run) -> list[Part]:
        doc = run.doc(n)
        if doc["result"] != "ok":
            return []
        if variant == "addresses":
            return [
                Part(f"Step {n}: which gPA does the access reach?", n, "gpa", run.answer(n, "gpa")),
                Part(
                    f"Step {n}: which hPA does it reach?",
                    n,
                    "hpa",
                    run.answer(n, "hpa"),
                    "stage 1 maps the gVA's page to the gPA's page, stage 2 that to the hPA's; "
                    "the offset in the page is kept",
                ),
            ]
        if variant == "refs":
            return [
                Part(
                    f"Step {n}: how many page-table entries does the walk read (both stages)?",
                    n,
                    "refs",
                    run.answer(n, "refs"),
                    _walk_cost(doc),
                )
            ]
        k = d.rng.randrange(1, len(doc["walk"]))
        prev, nxt = doc["walk"][k - 1], doc["walk"][k]
        explain = (
            f"reference {k + 1} reads the {nxt['level_name']} (stage {nxt['stage']}, "
            f"{nxt['purpose']}) at index {nxt['index']} of the table at hPA {nxt['table_hpa']}"
        )
        return [
            Part(
                f"Step {n}, a cold walk: reference {k} read the {prev['level_name']} "
                f"(stage {prev['stage']}, {prev['purpose']}) at hPA {prev['entry_hpa']} and "
                f"found {prev['raw']}. Which hPA does reference {k + 1} read?",
                n,
                f"walk.{k}.entry_hpa",
                int(nxt["entry_hpa"], 16),
                explain,
            )
        ]

    return d.config(), steps, parts


def _fault_steps(d: _Draw) -> list[Command]:
    r = d.rng
    variant = r.choice(("s2-permission", "s1-not-present", "s2-not-present", "guest-walk", "s1"))
    if variant == "s2-permission":
        steps = d.layout(s1_flags="rwx", s2_flags=r.choice(("r", "rx", "rw")))
        return steps + [d.access(d.address(), r.choice(("write", "exec")))]
    if variant == "s1-not-present":
        steps = d.layout()
        beyond = d.gva + d.size + (r.randrange(0, 8) << 12) if r.random() < 0.5 else d.gva << 1
        return steps + [d.access(beyond + (r.randrange(0, 0x1000) & ~7))]
    if variant == "s2-not-present":
        steps = d.layout()
        stray = d.gva + 0x20_0000
        far = (r.randrange(256, 512) << 21) + (r.randrange(0, 512) << 12)
        steps.append(parse_line(f"map stage=1 gva={stray:#x} gpa={far:#x} size=4K flags=rw"))
        return steps + [d.access(stray + (r.randrange(0, 0x1000) & ~7))]
    if variant == "guest-walk":
        steps = d.layout()
        frame = 0x10_0000 + (r.randrange(1, 4) << 12)  # a non-root frame of the guest's tables
        steps.append(parse_line(f"unmap stage=2 gpa={frame:#x} size=4K"))
        return steps + [d.access(d.address())]
    steps = d.layout(s1_flags=r.choice(("r", "rw", "rx")))
    return steps + [d.access(d.address(), r.choice(("write", "exec", "read")), "user")]


def _faults(d: _Draw) -> Made:
    steps = _fault_steps(d)
    n = len(steps)

    def parts(run: _Run) -> list[Part]:
        doc = run.doc(n)
        fault = doc["fault"]
        if fault is None:
            return []
        out = [
            Part(f"Step {n} faults. At which stage (1 or 2)?", n, "fault.stage", fault["stage"]),
            Part(
                "At which depth of that stage's tables (0 = root)?",
                n,
                "fault.depth",
                "none" if fault["depth"] is None else fault["depth"],
            ),
            Part(
                "For which reason (not-present, permission, access-flag, misconfig, reserved, "
                "misaligned, address-size, non-canonical)?",
                n,
                "fault.reason",
                fault["reason"],
                fault["explanation"],
            ),
        ]
        syndrome = fault["syndrome"]
        for key in SYNDROME_KEYS[run.machine.arch]:
            if syndrome.get(key) is not None:
                out.append(
                    Part(
                        f"What does the syndrome report in {key}?",
                        n,
                        f"fault.syndrome.{key}",
                        _number_or_word(syndrome[key]),
                    )
                )
        return out[:5]

    return d.config(), steps, parts


def _flush_choices(d: _Draw, gpa: int) -> list[Command]:
    out = []
    for kind in ARCHES[d.arch].flushes:
        scope = FLUSHES[kind]
        if scope.by_addr is None:
            out.append(build("flush", {"kind": kind}))
            continue
        right = d.gva if scope.by_addr == "va" else gpa
        out.append(build("flush", {"kind": kind, "addr": right}))
        out.append(build("flush", {"kind": kind, "addr": right + 0x20_0000}))
        if not scope.addr_required:
            out.append(build("flush", {"kind": kind}))
    return out


def _tlb(d: _Draw) -> Made:
    steps = d.layout()
    first = d.address(0)
    steps.append(d.access(first, d.rng.choice(("read", "write"))))
    config = d.config()
    if d.rng.random() < 0.5:
        second = d.address(d.rng.choice((0, 0, 1, 3)))
        steps.append(d.access(second, d.rng.choice(("read", "write"))))
        n = len(steps)

        def again(run: _Run) -> list[Part]:
            doc = run.doc(n)
            if doc["result"] != "ok":
                return []
            return [
                Part(f"Step {n}: does it hit the TLB (hit or miss)?", n, "tlb", doc["tlb"]),
                Part(
                    "How many page-table entries does it read?",
                    n,
                    "refs",
                    doc["refs"],
                    "a TLB hit reads none; a miss walks again (stage-2 entries cached for the "
                    "guest's table frames save their stage-2 walks)",
                ),
            ]

        return config, steps, again
    stage, flags = d.rng.choice(((2, "r"), (1, "r"), (2, "rw")))
    where = f"gva={d.gva:#x}" if stage == 1 else f"gpa={d.gpa:#x}"
    if flags == "rw":  # remap elsewhere: the cached hPA goes stale
        steps.append(parse_line(f"unmap stage=2 {where} size=4K"))
        moved = d.hpa + 0x40_0000
        steps.append(parse_line(f"map stage=2 {where} size=4K flags=rwx hpa={moved:#x}"))
    else:
        steps.append(parse_line(f"protect stage={stage} {where} size=4K flags={flags}"))
    choices = _flush_choices(d, d.gpa)

    def which(run: _Run) -> list[Part]:
        if sum(e.stale for e in run.machine.tlb_entries()) == 0:
            return []
        good, bad = [], []
        for c in choices:
            after = play(config, [*steps, c, Command("expect", {})])
            if after is not None:
                stale = after.doc(len(steps) + 2)["tlb"]["stale"]
                (bad if stale else good).append(c)
        if not good or not bad:
            return []
        shown = [d.rng.choice(good), *d.rng.sample(bad, min(3, len(bad)))]
        d.rng.shuffle(shown)
        answer = next(c for c in shown if c in good)
        return [
            Part(
                f"After step {len(steps)} the TLB holds a stale entry for gVA {d.gva:#x}. "
                "Which invalidation removes it?",
                len(steps) + 1,
                "flush",
                answer.to_line(),
                FLUSHES[answer.args["kind"]].doc,
                tuple(shown),
            )
        ]

    return config, steps, which


def _huge(d: _Draw) -> Made:
    huge_s1, huge_s2 = d.rng.choice(((True, True), (True, False), (False, True)))
    steps = d.layout(huge_s1=huge_s1, huge_s2=huge_s2)
    steps.append(d.access(d.address()))
    n = len(steps)

    def parts(run: _Run) -> list[Part]:
        doc = run.doc(n)
        if doc["result"] != "ok":
            return []
        return [
            Part(
                f"Step {n}: how many page-table entries does the walk read?",
                n,
                "refs",
                doc["refs"],
                _walk_cost(doc),
            ),
            Part(
                "What is the size of the translation the TLB may cache (bytes)?",
                n,
                "page_size",
                doc["page_size"],
                "the smaller of the two stages' page sizes",
            ),
            Part("Which hPA does it reach?", n, "hpa", int(doc["hpa"], 16)),
        ]

    return d.config(), steps, parts


def _seed_bugs(d: _Draw) -> Made:
    config = d.config(encoding=Encoding.SEED)
    flags = d.rng.choice(_SEED_FLAGS)
    steps = d.layout(s1_flags="rwx", s2_flags=flags)
    name, options = config.spec.npts[config.npt]
    s2 = get_format(name, features=config.features, **options)
    steps.append(
        build("expect", {"entry": {"stage": 2, "gpa": f"{d.gpa:#x}", "depth": s2.leaf_depth}})
    )
    steps.append(d.access(d.address(), d.rng.choice(("read", "write", "exec"))))
    n = len(steps)

    def parts(run: _Run) -> list[Part]:
        raw = run.answer(n - 1, "entry.raw")
        assert isinstance(raw, int)
        dec = s2.decode(raw, s2.leaf_depth)
        fields = " ".join(f"{f.field.name}={f.value:#x}" for f in dec.fields if f.value)
        doc = run.doc(n)
        fault = doc["fault"]
        return [
            Part(
                f"Step {n - 1}: which raw value does the seed's encoding write in the stage-2 "
                f"leaf for gPA {d.gpa:#x} (flags {MappingFlags.parse(flags).short()})?",
                n - 1,
                "entry.raw",
                raw,
                f"{s2.name} leaf: {fields}",
                hide_from=1,  # step 1 writes it: the tables would show it
            ),
            Part(
                f"Step {n}: ok or fault?",
                n,
                "result",
                doc["result"],
                "" if fault is None else fault["explanation"],
            ),
        ]

    return config, steps, parts


_MAKERS: dict[str, Callable[[_Draw], Made]] = {
    "walk": _walk,
    "faults": _faults,
    "tlb": _tlb,
    "huge": _huge,
    "seed-bugs": _seed_bugs,
}


def modes(arch: str, kind: str) -> tuple[str, ...]:
    """The `guest` (stage-1) or `npt` (stage-2) modes a quiz on `arch` may use."""
    spec = ARCHES[arch]
    return tuple(spec.guests if kind == "guest" else spec.npts)


def _check_mode(arch: str | None, kind: str, mode: str | None) -> None:
    if mode is None or mode == ANY_MODE:
        return
    if arch is None:
        raise ValueError(f"{kind} {mode!r} needs an arch (a mixed quiz uses each arch's own)")
    if mode not in modes(arch, kind):
        allowed = ", ".join((*modes(arch, kind), ANY_MODE))
        raise ValueError(f"unknown {arch} {kind} mode {mode!r} (allowed: {allowed})")


def generate(
    seed: int = 0,
    count: int = 10,
    arch: str | None = None,
    topic: str | None = None,
    guest: str | None = None,
    npt: str | None = None,
) -> list[Problem]:
    """`count` problems; the same arguments give the same problems. `guest`/`npt` name the
    machine's modes (default: the arch's defaults; "any": drawn per problem)."""
    if arch in NO_QUIZ:
        raise ValueError(f"no quiz for arch {arch!r}: {NO_QUIZ[arch]}")
    if arch is not None and arch not in QUIZ_ARCHES:
        raise ValueError(f"unknown arch {arch!r} (allowed: {', '.join(QUIZ_ARCHES)})")
    if topic is not None and topic not in _MAKERS:
        raise ValueError(f"unknown topic {topic!r} (allowed: {', '.join(TOPICS)})")
    _check_mode(arch, "guest", guest)
    _check_mode(arch, "npt", npt)
    rng = random.Random(f"npt-explorer quiz {seed}")
    problems = []
    for number in range(1, count + 1):
        a = arch or rng.choice(MIX_ARCHES)
        t = topic or rng.choice(TOPICS)
        g = rng.choice(modes(a, "guest")) if guest == ANY_MODE else guest or ""
        n = rng.choice(modes(a, "npt")) if npt == ANY_MODE else npt or ""
        problems.append(_one(rng, a, t, number, g, n))
    return problems


def _one(
    rng: random.Random, arch: str, topic: str, number: int, guest: str = "", npt: str = ""
) -> Problem:
    for _ in range(_MAX_TRIES):
        config, steps, parts_of = _MAKERS[topic](_Draw(rng, arch, guest, npt))
        run = play(config, steps)
        if run is None:
            continue
        parts = parts_of(run)
        if parts:
            return Problem(number, topic, config, tuple(steps), tuple(parts), _header(run))
    where = f"{arch} {guest or 'default'}×{npt or 'default'}"
    raise RuntimeError(f"no {topic} problem for {where} in {_MAX_TRIES} draws")  # a generator bug
