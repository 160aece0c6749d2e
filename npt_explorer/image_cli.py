"""`npt-explorer image info | walk | ranges | find | export` (IMAGES.md "Verbs")."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .engine import ARCHES, PagingError, Stages, mode_clash, walk_many
from .image.errors import ImageError
from .image.export import E_MACHINE, machine_roots, roots_note, write_elf
from .image.files import ImageFile, open_images
from .image.machine import ImageMachine
from .image.memory import ImageMemory
from .image.ranges import HostTables, Run, ranges, table_addresses
from .image.roots import REGISTERS, decode

SUBVERBS = ("info", "walk", "ranges", "find", "export")
_ALL_REGISTERS = sorted({r for regs in REGISTERS.values() for r in regs})


def _number(text: str, what: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise ImageError(what, f"{text!r} is not a number") from None


def _is_number(text: str) -> bool:
    try:
        int(text.replace("_", ""), 0)
    except ValueError:
        return False
    return True


def _parser(
    sub: str, kind: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> argparse.ArgumentParser:
    p = kind(prog=f"npt-explorer image {sub}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if sub == "export":
        p.add_argument("scenario", metavar="FILE.toml")
        p.add_argument("--step", type=int, help="the state after step N (default: the end)")
        p.add_argument("-o", "--output", required=True, metavar="OUT.elf")
        return p
    p.add_argument("items", nargs="+", metavar="IMAGE", help="ELF/LiME file or RAW@BASE")
    if sub == "info":
        return p
    p.add_argument("--arch", choices=tuple(ARCHES), help="default: from the ELF header")
    p.add_argument("--cpu", type=int, default=0, help="the QEMU note's vCPU (x86; default 0)")
    p.add_argument("--features", default="", help="comma-separated [machine] features")
    p.add_argument("--pan", type=int, choices=(0, 1), help="aarch64 PSTATE.PAN")
    for reg in _ALL_REGISTERS:
        if reg != "pan":
            p.add_argument(f"--{reg}", metavar="V")
    if sub == "walk":
        p.add_argument("--access", default="read", choices=("read", "write", "exec"))
        p.add_argument("--priv", default="kernel", choices=("kernel", "user"))
        p.add_argument("--accesses", metavar="FILE.json", help='[{"gva", "access", "priv"}, ...]')
    elif sub == "ranges":
        p.add_argument("--stage", default="both", choices=("1", "2", "both"))
    elif sub == "find":
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("--hpa", metavar="ADDR")
        what.add_argument("--gpa", metavar="ADDR")
    return p


# ---------------------------------------------------------------------------- opening


def _split(items: list[str], numbers: bool) -> tuple[list[str], list[int]]:
    """Images, and (for walk) the trailing GVAs: numbers that are not files."""
    specs, gvas = [], []
    for item in items:
        if numbers and _is_number(item) and not os.path.exists(item):
            gvas.append(_number(item, "GVA"))
        else:
            specs.append(item)
    if not specs:
        raise ImageError("image", "no image given")
    return specs, gvas


Inputs = tuple[str, dict[str, int], set[str], dict[str, Any] | None]


def _regime_inputs(ns: argparse.Namespace, files: list[ImageFile]) -> Inputs:
    """arch, registers (note < QEMU vCPU note < flags), features, our roots note."""
    note = next((f.roots for f in files if f.roots), None)
    arch = ns.arch or (note or {}).get("arch") or next((f.arch for f in files if f.arch), None)
    if arch not in ARCHES:
        raise ImageError(
            "--arch", "no architecture in the image: give --arch x86_64|aarch64|riscv64"
        )
    regs: dict[str, int] = {}
    features: set[str] = set()
    if note is not None:
        for name, value in dict(note.get("roots", {})).items():
            regs[name] = _number(str(value), f"{ROOTS_NOTE_NAME} note roots.{name}")
        features |= set(note.get("features", []))
    cpus = next((f.cpus for f in files if f.cpus), [])
    given = {r for r in _ALL_REGISTERS if r != "pan" and getattr(ns, r) is not None}
    if cpus and arch == "x86_64" and not given & {"cr3", "cr0", "cr4"}:
        if not 0 <= ns.cpu < len(cpus):
            raise ImageError("--cpu", f"{ns.cpu}: the image has QEMU notes for {len(cpus)} vCPU(s)")
        regs.update(cpus[ns.cpu])
        if getattr(ns, "eptp", None) is not None or getattr(ns, "ncr3", None) is not None:
            print(
                f"note: CR0/CR3/CR4 are vCPU {ns.cpu}'s from the QEMU note: in a dump of a "
                "hypervisor that is the hypervisor's own CR3; give the guest's --cr3 "
                "(VMCS guest state) to walk the guest",
                file=sys.stderr,
            )
    for r in given:
        regs[r] = _number(getattr(ns, r), f"--{r}")
    features |= {f for f in ns.features.split(",") if f}
    if ns.pan is not None:
        regs["pan"] = ns.pan
    return arch, regs, features, note


ROOTS_NOTE_NAME = "NPT-EXPLORER"


def _machine(ns: argparse.Namespace, specs: list[str]) -> ImageMachine:
    memory, files = open_images(specs)
    arch, regs, features, note = _regime_inputs(ns, files)
    regime = decode(arch, regs, features)
    if note is not None:  # the note names modes no register can (the seed's G-stage sv39)
        spec, regs_now = ARCHES[arch], regime.control
        for kind, modes in (("guest", spec.guests), ("npt", spec.npts)):
            named = note.get(kind)
            if getattr(regime, kind) is not None and named in modes:
                if not mode_clash(arch, kind, named, regs_now):  # a label the registers allow
                    setattr(regime, kind, named)
    return ImageMachine.build(memory, regime)


def image_machine(args: Sequence[str]) -> ImageMachine:
    """A machine over images given as `image ranges` takes them (files, RAW@BASE, root
    options); for other verbs (the classroom's `diff`). Raises `ImageError`."""
    return image_setup(args)[0]


class _RaisingParser(argparse.ArgumentParser):
    """A bad option is an `ImageError` (the TUI shows it), not an exit."""

    def error(self, message: str) -> NoReturn:
        raise ImageError(self.prog, message)


def image_setup(args: Sequence[str]) -> tuple[ImageMachine, list[str]]:
    """`image_machine`, and the image arguments it opened (for a caller that must never
    write over them: the TUI's `save`)."""
    ns = _parser("ranges", _RaisingParser).parse_intermixed_args(list(args))
    specs, _ = _split(ns.items, numbers=False)
    return _machine(ns, specs), specs


# ---------------------------------------------------------------------------- verbs


def cmd_info(ns: argparse.Namespace) -> int:
    memory, files = open_images(ns.items)
    out = {
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "arch": f.arch,
                "ranges": [[f"{s.start:#x}", f"{s.end:#x}"] for s in f.segments],
                "cpus": [{k: f"{v:#x}" for k, v in cpu.items()} for cpu in f.cpus],
                "roots": f.roots,
            }
            for f in files
        ],
        "bytes": memory.total,
    }
    if ns.json:
        print(json.dumps(out, indent=2))
        return 0
    for f in out["files"]:
        arch = f" {f['arch']}" if f["arch"] else ""
        print(f"{f['path']}: {f['kind']}{arch}, {len(f['ranges'])} range(s)")
        for start, end in f["ranges"]:
            print(f"  {start:>18} .. {end:<18} {int(end, 16) - int(start, 16):#x} bytes")
        for n, cpu in enumerate(f["cpus"]):
            print(f"  QEMU vCPU {n}: " + " ".join(f"{k}={v}" for k, v in cpu.items()))
        if f["roots"]:
            print(f"  {ROOTS_NOTE_NAME} note: {json.dumps(f['roots'])}")
    print(f"{out['bytes']:#x} bytes of memory in all")
    return 0


def _accesses(path: str) -> list[tuple[int, str, str]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ImageError(path, f"cannot read accesses: {err}") from None
    if not isinstance(data, list):
        raise ImageError(path, 'not a JSON array of {"gva", "access", "priv"} objects')
    out = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or "gva" not in item:
            raise ImageError(path, f'item {n}: not an object with "gva"')
        gva = (
            item["gva"]
            if isinstance(item["gva"], int)
            else _number(str(item["gva"]), f"{path} item {n} gva")
        )
        access, priv = str(item.get("access", "read")), str(item.get("priv", "kernel"))
        if access not in ("read", "write", "exec") or priv not in ("kernel", "user"):
            raise ImageError(path, f"item {n}: access must be read|write|exec, priv kernel|user")
        out.append((gva, access, priv))
    return out


def cmd_walk(ns: argparse.Namespace) -> int:
    from .scenario.report import walk_lines, walk_summary
    from .scenario.results import walk_json

    specs, gvas = _split(ns.items, numbers=True)
    requests = [(g, ns.access, ns.priv) for g in gvas]
    if ns.accesses:
        requests += _accesses(ns.accesses)
    if not requests:
        raise ImageError("walk", "no GVA given (GVA... or --accesses FILE.json)")
    machine = _machine(ns, specs)
    if ns.json:  # one object, or an array streamed item by item (thousands of walks)
        if len(requests) == 1 and not ns.accesses:
            print(json.dumps(walk_json(machine.walk(*requests[0])), indent=1))
            return 0
        out = sys.stdout
        out.write("[")
        for n, (g, a, p) in enumerate(requests):
            out.write(("," if n else "") + "\n" + json.dumps(walk_json(machine.walk(g, a, p))))
        out.write("\n]\n")
        return 0
    if len(requests) == 1:
        from .console import make_console

        walk = machine.walk(*requests[0])
        console = make_console()
        console.print(walk_lines(walk))
        console.print(walk_summary(walk))
        return 0
    for line in batch_lines(machine, requests):  # a batch: one line per walk
        print(line)
    return 0


def batch_lines(machine: ImageMachine, requests: list[tuple[int, str, str]]) -> Iterator[str]:
    """`_walk_line` of each request, in order: translations walked together by the vector
    walker (`engine.walk_many`), faults and everything it leaves to the scalar walker (a walk
    with A/D write-backs, TTBR1's range, a lane it cannot decide) walked one by one."""
    ok: dict[int, str] = {}
    w = machine.walker
    if w.guest_root is not None and w.npt_root is not None and len(requests) > 1:
        stages = Stages(w, HostTables(machine), table_addresses(machine, 1), machine.memory)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (g, a, p) in enumerate(requests):
            if machine.refused(g) is None and not (a == "write" and machine.hardware_ad):
                groups.setdefault((a, p), []).append(i)
        for (a, p), lanes in groups.items():
            gvas = np.array([requests[i][0] for i in lanes], dtype=np.uint64)
            res = walk_many(stages, gvas, a, p)
            size = res.page_size
            for n in np.flatnonzero(res.ok).tolist():
                head = f"{a:<5} {p:<6} gVA {int(gvas[n]):#018x}"
                ok[lanes[n]] = (
                    f"{head} → gPA {int(res.gpa[n]):#x} → hPA {int(res.hpa[n]):#x}  "
                    f"page {int(size[n]):#x}  refs {int(res.refs[n])}"
                )
    for i, (g, a, p) in enumerate(requests):
        yield ok.get(i) or _walk_line(machine.walk(g, a, p))


def _walk_line(walk: Any) -> str:
    head = f"{walk.access!s:<5} {walk.priv!s:<6} gVA {walk.gva:#018x}"
    if walk.fault is None:
        return (
            f"{head} → gPA {walk.gpa:#x} → hPA {walk.hpa:#x}  page {walk.page_size:#x}  "
            f"refs {walk.refs}"
        )
    f = walk.fault
    syndrome = " ".join(f"{k}={v:#x}" for k, v in f.syndrome.items() if v is not None)
    where = f.level_name or "input"
    return f"{head} fault: stage {f.stage} {f.reason} at {where}  refs {walk.refs}  {syndrome}"


def _run_lines(runs: list[Run]) -> list[str]:
    lines = []
    for r in runs:
        sizes = ",".join(_size(s) for s in sorted(r.page_sizes))
        lines.append(
            f"{r.start:#018x}-{r.end:#018x} {r.size:>#14x} → {r.out:#014x}  {r.perms}  "
            f"{r.pages:>6} × {sizes:<9} {r.attrs}"
        )
    return lines


def _size(size: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << shift and not size % (1 << shift):
            return f"{size >> shift}{unit}"
    return str(size)


def cmd_ranges(ns: argparse.Namespace) -> int:
    specs, _ = _split(ns.items, numbers=False)
    machine = _machine(ns, specs)
    runs, problems = ranges(machine, ns.stage)
    if ns.json:
        print(json.dumps([r.to_json() for r in runs], indent=1))
    else:
        print("\n".join(_run_lines(runs)) or "(nothing mapped)")
    for problem in problems:
        print(f"note: {problem}", file=sys.stderr)
    return 0


def cmd_find(ns: argparse.Namespace) -> int:
    specs, _ = _split(ns.items, numbers=False)
    machine = _machine(ns, specs)
    hits: list[dict[str, Any]] = []
    if ns.hpa is not None:
        target = _number(ns.hpa, "--hpa")
        for r in ranges(machine, "both")[0]:
            if r.out <= target < r.out + r.size:
                gva = r.start + target - r.out
                walk = machine.walk(gva, "read")
                gpa = None if walk.gpa is None else f"{walk.gpa:#x}"
                hits.append(
                    {"gva": f"{gva:#x}", "gpa": gpa, "hpa": f"{target:#x}", "perms": r.perms}
                )
        if machine.walker.npt_root is not None:
            for r in ranges(machine, "2")[0]:
                if r.out <= target < r.out + r.size:
                    hits.append({"gva": None, "gpa": f"{r.start + target - r.out:#x}",
                                 "hpa": f"{target:#x}", "perms": r.perms})  # fmt: skip
    else:
        target = _number(ns.gpa, "--gpa")
        for r in ranges(machine, "1")[0]:
            if r.out <= target < r.out + r.size:
                hits.append({"gva": f"{r.start + target - r.out:#x}", "gpa": f"{target:#x}",
                             "hpa": None, "perms": r.perms})  # fmt: skip
    if ns.json:
        print(json.dumps(hits, indent=1))
    else:
        for h in hits:
            print(
                f"gVA {h['gva'] or '-':>18}  gPA {h['gpa'] or '-':>18}  "
                f"hPA {h['hpa'] or '-':>18}  {h['perms']}"
            )
        if not hits:
            print("nothing maps it")
    return 0


def cmd_export(ns: argparse.Namespace) -> int:
    from .scenario.loader import ScenarioError, load
    from .scenario.replay import run

    out = Path(ns.output)
    scenario_path = Path(ns.scenario)
    try:
        scenario = load(scenario_path)
    except (ScenarioError, OSError) as err:
        raise ImageError(ns.scenario, str(err)) from None
    if out.exists() and out.resolve() == scenario_path.resolve():
        raise ImageError(ns.output, "refusing to write over the input")
    if ns.step is not None and not 0 <= ns.step <= len(scenario.steps):
        raise ImageError("--step", f"{ns.step}: the scenario has {len(scenario.steps)} steps")
    if scenario.arch not in E_MACHINE:
        raise ImageError(
            ns.scenario, f"{scenario.arch}: IMAGES.md names no registers for its roots"
        )
    machine = run(scenario, ns.step).machine
    count = export_machine(machine, out)
    info = {"output": str(out), "pt_loads": count, "frames": len(machine.memory.frames)}
    print(
        json.dumps(info) if ns.json else f"wrote {out}: {count} PT_LOAD(s), {info['frames']} frames"
    )
    return 0


def export_machine(machine: Any, out: Path) -> int:
    """A scenario `Machine` as an ELF core with its roots note."""
    cfg = machine.config
    roots = machine_roots(
        cfg.arch, cfg.guest, cfg.npt, cfg.features, machine.control.values,
        machine.guest_root, machine.npt.root, machine.vmid, machine.asid, machine.root_registers,
        machine.walker.guest_root_hi,
    )  # fmt: skip
    note = roots_note(cfg.arch, cfg.guest, cfg.npt, cfg.features, str(cfg.encoding), roots)
    frames = {pfn: words.tobytes() for pfn, words in machine.memory.frames.items()}
    for pfn in _root_frames(machine):  # a root never written is still memory: zeros
        frames.setdefault(pfn, bytes(0x1000))
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as f:
        count = write_elf(f, cfg.arch, frames, note)
    tmp.replace(out)
    return count


def _root_frames(machine: Any) -> list[int]:
    """Both roots' host frames (a stage-2 root may be several concatenated frames)."""
    npt = machine.npt.root >> 12
    out = list(range(npt, npt + machine.s2.root_frames))
    guest = machine.ram.host_frame(machine.guest_root >> 12)
    return out + ([] if guest is None else [guest])


def main(args: Sequence[str]) -> int:
    """Entry from `cli.main`: 0 success, 2 a bad argument or image (one line on stderr)."""
    args = list(args)
    if not args or args[0] not in SUBVERBS:
        print(f"npt-explorer image: error: give one of {', '.join(SUBVERBS)}", file=sys.stderr)
        return 2
    sub = args.pop(0)
    ns = _parser(sub).parse_intermixed_args(args)
    try:
        return {"info": cmd_info, "walk": cmd_walk, "ranges": cmd_ranges, "find": cmd_find,
                "export": cmd_export}[sub](ns)  # fmt: skip
    except ImageError as err:
        print(f"npt-explorer image {sub}: error: {err}", file=sys.stderr)
        return 2
    except PagingError as err:
        print(f"npt-explorer image {sub}: error: {err.message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `| head`: the reader left; nothing more to say
        sys.stderr.close()
        return 0


__all__ = ["ImageMemory", "main"]
