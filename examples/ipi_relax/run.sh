#!/usr/bin/env bash
# Shell version of run.py: start i-PI on NAME.xml, then the mlh-ipi client; clean up on exit or Ctrl-C.
#
#   examples/ipi_relax/run.sh host_mlh MODEL.pt     # a-SiO2 host, MLH
#   examples/ipi_relax/run.sh vo_mlh   MODEL.pt     # V_O in that host, MLH
#   examples/ipi_relax/run.sh host_dft              # DFT (PySCF) with dft_settings.json, or SETTINGS=file.json
#   examples/ipi_relax/run.sh vo_dft
#
# Needs `i-pi` and `mlh-ipi` on PATH (source .venv/bin/activate). Work folder: $WORKDIR,
# default runs/ipi_relax/NAME. STRUCTURE=file.extxyz relaxes another start structure,
# MAX_STEPS=N overrides <total_steps> (as run.py's --structure / --max-steps). The socket gets a unique name; both processes are stopped
# and the socket removed when the script ends for any reason.
set -euo pipefail

NAME=${1:?usage: run.sh host_mlh|vo_mlh|host_dft|vo_dft [MODEL]}
MODEL=${2:-}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "$NAME" in
  host_mlh|host_dft) INIT=host.extxyz ;;
  vo_mlh|vo_dft) INIT=vo.extxyz ;;
  *) echo "unknown run $NAME" >&2; exit 2 ;;
esac
ENGINE=${NAME#*_}
if [[ $ENGINE == mlh && -z $MODEL ]]; then echo "$NAME needs a MODEL argument" >&2; exit 2; fi

WORK=${WORKDIR:-runs/ipi_relax/$NAME}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -f "$WORK/$NAME".*
ADDR="${NAME}_$$"
SOCKET="/tmp/ipi_$ADDR"
sed -e "s|<address>.*</address>|<address>$ADDR</address>|" \
    -e "s|<total_steps>[0-9]*</total_steps>|<total_steps>${MAX_STEPS:-500}</total_steps>|" \
    "$HERE/$NAME.xml" > "$WORK/input.xml"
cp "${STRUCTURE:-$HERE/$INIT}" "$WORK/$INIT"

SERVER="" CLIENT=""
cleanup() {
  for pid in $CLIENT $SERVER; do kill "$pid" 2>/dev/null || true; done
  for pid in $CLIENT $SERVER; do wait "$pid" 2>/dev/null || true; done
  rm -f "$SOCKET"
}
trap cleanup EXIT
trap 'echo "$NAME: interrupted" >&2; exit 130' INT TERM

(cd "$WORK" && exec i-pi input.xml > ipi.log 2>&1) &
SERVER=$!
until [[ -S $SOCKET ]]; do
  kill -0 "$SERVER" 2>/dev/null || { echo "i-PI exited early, see $WORK/ipi.log" >&2; exit 1; }
  sleep 0.2
done

ARGS=(serve --template "$WORK/$INIT" --engine "$ENGINE" --unix "$ADDR")
[[ -n $MODEL ]] && ARGS+=(--model "$MODEL")
[[ $ENGINE == dft ]] && ARGS+=(--settings "${SETTINGS:-$HERE/dft_settings.json}")
DEFECT=$(python -c "from ase.io import read; print(*read('$WORK/$INIT').info.get('defect_si', []))")
[[ -n $DEFECT ]] && ARGS+=(--defect-atoms $DEFECT)
mlh-ipi "${ARGS[@]}" > "$WORK/client.log" 2>&1 &
CLIENT=$!
echo "$NAME: i-PI pid $SERVER, client pid $CLIENT, folder $WORK"

while kill -0 "$SERVER" 2>/dev/null; do
  if ! kill -0 "$CLIENT" 2>/dev/null; then
    if ! wait "$CLIENT"; then echo "client failed, see $WORK/client.log" >&2; exit 1; fi
    CLIENT=""
  fi
  sleep 0.5
done
wait "$SERVER" || { echo "i-PI failed, see $WORK/ipi.log" >&2; exit 1; }
tail -n 1 "$WORK/$NAME.out"
echo "$NAME: done; trajectory $WORK/$NAME.pos_0.xyz, energies $WORK/$NAME.out"
