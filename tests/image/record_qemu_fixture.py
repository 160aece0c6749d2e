"""Record QEMU's answers for generated two-stage cases into the compact fixture the agreement
test reads (tests/image/data/qemu_<arch>.json.xz).

Needs the qemu-oracle (../shared/qemu-oracle, or $QEMU_ORACLE) and qemu-system-riscv64 /
qemu-system-aarch64. Each case is stored as the memory the oracle's stub walks (the case's raw
regions plus the harness entries the driver adds, as non-zero 8-byte words; pattern regions by
range), its registers, and per access QEMU's answer:
  ["ok", hpa] | ["fault", scause, stval, htval, htinst] (RISC-V)
  | ["fault", el, ec, fsc, s1ptw, far, hpfar] (AArch64) | ["other", result]

    python3 tests/image/record_qemu_fixture.py --seed 13 --count 200
    python3 tests/image/record_qemu_fixture.py --arch aarch64-16k --arch aarch64-64k --count 200
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORACLE = Path(os.environ.get("QEMU_ORACLE", "/work/shared/qemu-oracle"))
GENERATORS = {"riscv64": "gen_cases.py", "aarch64": "gen_cases_arm.py"}
#: AArch64 with a 16/64 KiB stage-2 granule: our generator and harness window
#: (gen_cases_arm_granules.py, oracle_arm_granules.py), the oracle's driver and stub
GRANULES = {"aarch64-16k": 16, "aarch64-64k": 64}
RAM = {"riscv64": (0x8000_0000, 256 << 20), "aarch64": (0x4000_0000, 256 << 20)}


def base_arch(fixture: str) -> str:
    """The architecture of a fixture name (`aarch64-16k` → `aarch64`)."""
    return fixture.split("-")[0]


def _int(v: object) -> int:
    return v if isinstance(v, int) else int(str(v).replace("_", ""), 0)


def qemu_answer(arch: str, r: dict) -> list:
    if r["result"] == "ok":
        return ["ok", None if r.get("hpa") is None else _int(r["hpa"])]
    if r["result"] != "fault":
        return ["other", r["result"]]
    if arch == "riscv64":
        return ["fault", r["scause"], _int(r["stval"]), _int(r["htval"]), _int(r["htinst"])]
    el2 = r["el"] == 2
    return ["fault", r["el"], r["ec"], r["fsc"], r.get("s1ptw", 0) if el2 else 0,
            _int(r["far"]), _int(r["hpfar"]) if el2 else None]  # fmt: skip


def case_memory(case: dict, result: dict, case_dir: Path) -> tuple[dict[int, int], list]:
    sys.path.insert(0, str(ORACLE))
    import qemu_oracle  # the oracle's own loader: the bytes it hands the stub

    img = qemu_oracle.load_memory(case, case_dir)
    harness = result["harness"]
    for e in (
        harness.get("g_entries", []) + harness.get("vs_entries", []) + harness.get("entries", [])
    ):
        img.write64(_int(e["hpa"]), _int(e["value"]))
    words = {}
    for page, buf in img.pages.items():
        for i in range(512):
            v = int.from_bytes(buf[8 * i : 8 * i + 8], "little")
            if v:
                words[page + 8 * i] = v
    return words, [[a, s] for a, s in img.pattern]


def _run_granule_cases(cases_dir: Path, jobs: int) -> dict[str, dict]:
    sys.path.insert(0, str(HERE))
    from oracle_arm_granules import run_case

    paths = sorted(cases_dir.glob("*.json"))
    with ProcessPoolExecutor(jobs) as pool:
        cases = [json.loads(p.read_text()) for p in paths]
        done = pool.map(run_case, cases, [cases_dir] * len(paths))
        return {r["name"]: r for r in done}


def record(fixture: str, seed: int, count: int, jobs: int) -> dict:
    arch = base_arch(fixture)
    with tempfile.TemporaryDirectory() as tmp:
        cases_dir, out = Path(tmp) / "cases", Path(tmp) / "results.jsonl"
        if fixture in GRANULES:
            gen = [str(HERE / "gen_cases_arm_granules.py"), "--granule", str(GRANULES[fixture])]
        else:
            gen = [str(ORACLE / GENERATORS[arch])]
        args = ["--seed", str(seed), "--count", str(count), "--out", str(cases_dir)]
        subprocess.run([sys.executable, *gen, *args], check=True, stdout=subprocess.DEVNULL)
        if fixture in GRANULES:
            results = _run_granule_cases(cases_dir, jobs)
        else:
            run = [sys.executable, str(ORACLE / "run_cases.py"), str(cases_dir), "-j", str(jobs)]
            subprocess.run([*run, "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
            results = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
        cases = []
        for path in sorted(cases_dir.glob("*.json")):
            case = json.loads(path.read_text())
            result = results[case["name"]]
            words, pattern = case_memory(case, result, cases_dir)
            cases.append({
                "name": case["name"],
                "regs": {k: _int(v) for k, v in case["regs"].items()},
                "words": sorted(words.items()),
                "pattern": pattern,
                "accesses": [
                    [_int(r["gva_used"] if r.get("gva_used") else r["gva"]), r["access"],
                     r["priv"], qemu_answer(arch, r)]
                    for r in result["results"]
                ],
            })  # fmt: skip
    version = subprocess.run([f"qemu-system-{arch}", "--version"], capture_output=True, text=True)
    qemu = version.stdout.splitlines()[0]
    return {"arch": arch, "fixture": fixture, "seed": seed, "qemu": qemu, "ram": RAM[arch],
            "cases": cases}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("-j", type=int, default=1)
    ap.add_argument("--arch", choices=(*GENERATORS, *GRANULES), action="append")
    ns = ap.parse_args()
    for arch in ns.arch or (*GENERATORS, *GRANULES):
        data = record(arch, ns.seed, ns.count, ns.j)
        path = HERE / "data" / f"qemu_{arch}.json.xz"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(lzma.compress(json.dumps(data, separators=(",", ":")).encode()))
        accesses = sum(len(c["accesses"]) for c in data["cases"])
        print(
            f"{path}: {len(data['cases'])} cases, {accesses} accesses, {path.stat().st_size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
