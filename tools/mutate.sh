#!/usr/bin/env bash
# Mutation testing of numpynet's core with mutmut 3 (configured in setup.cfg [mutmut]); run by `make mutate`,
# never by CI. Results are kept per mutant in ./mutants/ (git-ignored), so an interrupted run loses nothing:
#
#   tools/mutate.sh                      (re)test every mutant of every core module (hours on two cores)
#   tools/mutate.sh spec layers.core     (re)test the mutants of these modules (names relative to numpynet/)
#   tools/mutate.sh --resume             test only the mutants that have no result yet
#   tools/mutate.sh --survivors          test again the survivors (and the mutants no test reached), after new tests
#   tools/mutate.sh --score              print the per-module table of the results so far, run nothing
#
# `.venv/bin/mutmut show NAME` shows one mutant's diff, `.venv/bin/mutmut browse` all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
JOBS=${MUTATE_JOBS:-2}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # forked workers: one BLAS thread each

MODULES=(spec regularizers activations losses io
         layers.base layers.core layers.activation_layers layers.merge layers.noise layers.normalization
         layers.reshaping layers.conv layers.depthwise optimizers)

case "${1:-}" in
    --score) ;;
    --resume) "$PY" -m mutmut run --max-children "$JOBS" ;;
    --survivors)
        mapfile -t names < <("$PY" tools/mutation_score.py --names)
        if [ ${#names[@]} -gt 0 ]; then
            modules=$(printf '%s\n' "${names[@]}" | sed 's/\.x[_ǁ].*//' | sort -u | tr '\n' ' ')
            NUMPYNET_MUTATE_MODULES="$modules" "$PY" -m mutmut run --max-children "$JOBS" "${names[@]}"
        fi ;;
    *)
        [ $# -gt 0 ] && MODULES=("$@")
        globs=() names=()
        for module in "${MODULES[@]}"; do globs+=("numpynet.$module.*"); names+=("numpynet.$module"); done
        NUMPYNET_MUTATE_MODULES="${names[*]}" "$PY" -m mutmut run --max-children "$JOBS" "${globs[@]}" ;;
esac
"$PY" tools/mutation_score.py
