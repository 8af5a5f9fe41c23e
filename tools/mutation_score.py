"""Print mutmut's results per module: killed / total, the score, and the names of the survivors.

Reads the ``mutants/**/*.py.meta`` files that ``mutmut run`` writes; run from the repository root
(``tools/mutate.sh --score``); ``--names`` prints only the names of the survivors and of the mutants no test
reached (what ``tools/mutate.sh --survivors`` tests again). Exit status 0 always: the score is a report, not a gate.

Two scores are printed. ``raw`` is killed / all mutants run. ``score`` is the mutation score as the literature
defines it, killed / (mutants run − equivalent mutants): an equivalent mutant computes what the original computes
(``x + 0.0`` for ``x``, a default argument spelled out), so no test can kill it. The equivalent ones are listed, each
with its reason, in ``tools/mutation_equivalents.txt``; a listed mutant that a test kills, or that mutmut no longer
generates (its function changed), is reported as a stale entry, so the list cannot quietly grow wrong.
"""

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 37}                    # a test failed (3: pytest internal error), or the type checker caught it
TIMEOUT = {36, 24, -24, 152, 255}      # the mutant made the tests hang: counted as killed (detected)
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")


def read_equivalents(path=EQUIVALENTS):
    """``{mutant name: reason}`` from the list: one mutant a line, its name then the reason; ``#`` lines are
    comments."""
    out = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def results(root):
    """``{module: {mutant name: exit code or None}}`` of every module mutmut has generated mutants for."""
    out = {}
    for meta in sorted(Path(root).glob("numpynet/**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            out[meta.with_suffix("").with_suffix("").relative_to(root).as_posix().replace("/", ".")] = codes
    return out


def main(root="mutants", names_only=False):
    by_module = results(root)
    if names_only:                      # the survivors and the mutants no test reached, one a line
        for codes in by_module.values():
            for name in sorted(k for k, v in codes.items() if v in (0, 5, 33)):
                print(name)
        return 0
    if not by_module:
        print(f"no results under {root}/ yet: run tools/mutate.sh")
        return 0
    equivalent = read_equivalents()
    total = Counter()
    survivors, stale = [], []
    every = {name for codes in by_module.values() for name in codes}
    stale += [f"{name} (no such mutant now)" for name in equivalent if name not in every]
    print(f"{'module':<36}{'killed':>8}{'run':>7}{'raw':>8}{'equiv.':>8}{'score':>8}  other")
    for module, codes in by_module.items():
        done = {k: v for k, v in codes.items() if v is not None}
        killed = sum(v in KILLED or v in TIMEOUT for v in done.values())
        survived = sorted(k for k, v in done.items() if v == 0)
        equiv = sum(name in equivalent for name in survived)
        stale += [f"{k} (killed)" for k, v in done.items() if k in equivalent and (v in KILLED or v in TIMEOUT)]
        survivors += [k for k in survived if k not in equivalent]
        other = Counter("survived" if v == 0 else "no tests" if v in (5, 33) else "other"
                        for v in done.values() if v not in KILLED and v not in TIMEOUT)
        other["survived"] -= equiv
        note = ", ".join(f"{n} {k}" for k, n in sorted(other.items()) if n)
        untested = len(codes) - len(done)
        if untested:
            note += f"{', ' if note else ''}{untested} not run"
        raw = f"{100 * killed / len(done):.1f}%" if done else "-"
        score = f"{100 * killed / (len(done) - equiv):.1f}%" if len(done) > equiv else "-"
        print(f"{module:<36}{killed:>8}{len(done):>7}{raw:>8}{equiv:>8}{score:>8}  {note}")
        total.update(killed=killed, done=len(done), equiv=equiv, untested=untested)
    if total["done"]:
        print(f"{'all run':<36}{total['killed']:>8}{total['done']:>7}{100 * total['killed'] / total['done']:>7.1f}%"
              f"{total['equiv']:>8}{100 * total['killed'] / (total['done'] - total['equiv']):>7.1f}%"
              + (f"  ({total['untested']} not run yet)" if total["untested"] else ""))
    if stale:
        print(f"\nstale entries of {EQUIVALENTS.name} (remove them):")
        for line in sorted(stale):
            print("   ", line)
    if survivors:
        print("\nsurvivors not listed as equivalent (`.venv/bin/mutmut show NAME`):")
        for name in survivors:
            print("   ", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(names_only="--names" in sys.argv[1:]))
