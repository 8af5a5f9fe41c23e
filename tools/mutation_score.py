"""Print mutmut's results per module: killed / total, the score, and the names of the survivors.

Reads the ``mutants/**/*.py.meta`` files that ``mutmut run`` writes; run from the repository root
(``tools/mutate.sh --score``); ``--names`` prints only the names of the survivors and of the mutants no test
reached (what ``tools/mutate.sh --survivors`` tests again). Exit status 0 always: the score is a report, not a gate.
"""

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 37}                    # a test failed (3: pytest internal error), or the type checker caught it
TIMEOUT = {36, 24, -24, 152, 255}      # the mutant made the tests hang: counted as killed (detected)


def main(root="mutants", names_only=False):
    if names_only:                      # the survivors and the mutants no test reached, one a line
        for meta in sorted(Path(root).glob("numpynet/**/*.py.meta")):
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            for name in (k for k, v in codes.items() if v in (0, 5, 33)):
                print(name)
        return 0
    metas = sorted(Path(root).glob("numpynet/**/*.py.meta"))
    if not metas:
        print(f"no results under {root}/ yet: run tools/mutate.sh")
        return 0
    total = Counter()
    survivors = []
    waiting = 0
    print(f"{'module':<36}{'killed':>8}{'total':>8}{'score':>9}  other")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = meta.with_suffix("").with_suffix("").relative_to(root).as_posix().replace("/", ".")
        done = {k: v for k, v in codes.items() if v is not None}
        if not done:
            waiting += len(codes)
            continue
        killed = sum(v in KILLED or v in TIMEOUT for v in done.values())
        other = Counter("survived" if v == 0 else "no tests" if v in (5, 33) else "other"
                        for v in done.values() if v not in KILLED and v not in TIMEOUT)
        survivors += sorted(k for k, v in done.items() if v == 0)
        untested = len(codes) - len(done)
        note = ", ".join(f"{n} {k}" for k, n in sorted(other.items()))
        if untested:
            note += f"{', ' if note else ''}{untested} not run"
        score = f"{100 * killed / len(done):.1f}%" if done else "-"
        print(f"{module:<36}{killed:>8}{len(done):>8}{score:>9}  {note}")
        total.update(killed=killed, done=len(done), untested=untested)
    if total["done"]:
        print(f"{'all run':<36}{total['killed']:>8}{total['done']:>8}{100 * total['killed'] / total['done']:>8.1f}%"
              + (f"  ({total['untested']} not run yet)" if total["untested"] else ""))
    if waiting:
        print(f"(modules not run yet: {waiting} mutants)")
    if survivors:
        print("\nsurvivors (`.venv/bin/mutmut show NAME`):")
        for name in survivors:
            print("   ", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(names_only="--names" in sys.argv[1:]))
