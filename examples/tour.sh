#!/usr/bin/env bash
# Every mlh-ipi command once, on the shipped demo data (24-atom a-SiO2, demo DFT settings at
# 100 Ha; docs/commands.md explains each step). Small on purpose: 35 min on a 2-core machine
# that was also running two single-thread DFT jobs (2026-11-23); less on an idle one.
#
#   make install && examples/tour.sh            # work folder: runs/tour (or TOUR=dir)
#
# Each command resumes, so rerunning the script after an interruption skips finished work.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"          # mlh-ipi, i-pi, python of the project venv
T=${TOUR:-$ROOT/runs/tour}
DEMO=$ROOT/mlh_ipi/resources/demo            # shipped demo MLH, MACE and O2 energy
SETTINGS=$ROOT/examples/demo_sio2/dft_settings.json   # the demo models' DFT settings
mkdir -p "$T"
cd "$T"
step() { printf '\n=== %s\n' "$*"; }

step "1. build: a-SiO2 host (LAMMPS melt-quench), a V_O, rattled snapshots, a GaAs defect cell"
[[ -f host.extxyz ]] || mlh-ipi build sio2 --atoms 24 --seed 7 --out host.extxyz
mlh-ipi build vacancy host.extxyz --random --seed 0 --out vo.extxyz
mlh-ipi build rattle vo.extxyz --std 0.05 --count 2 --seed 0 --out snaps.extxyz
mlh-ipi build gaas --defect As_Ga --atoms 64 --out asga.extxyz

step "2. label: DFT (PySCF) labels of the two snapshots, compact files"
mlh-ipi --threads 2 label snaps.extxyz --out labels --settings "$SETTINGS" --compact

step "3. train-h: 3 epochs of the Hamiltonian model on the shipped demo labels"
cat > train_h.toml <<EOF
[data]
folders = ["$ROOT/examples/demo_sio2/labels"]
[model]
cutoff_h = 8.0
cutoff_mp = 5.0
num_layers = 2
[training]
output = "$T/mlh"
epochs = 3
batch_size = 2
EOF
mlh-ipi --threads 2 train-h train_h.toml --no-progress

step "4. eval-h: the shipped demo MLH against the new labels (H, eigenvalue, gap errors + plots)"
mlh-ipi --threads 2 eval-h "$DEMO/mlh.pt" labels --out eval

step "5. single-point: MLH energy, forces, gap and V_O level, no SCF"
mlh-ipi --threads 2 single-point "$DEMO/mlh.pt" vo.extxyz --out vo.mlh.extxyz

step "6. train-mace: a 5-epoch MACE on the shipped demo labels"
mlh-ipi --threads 2 train-mace "$ROOT/examples/demo_sio2/labels" --out ff --epochs 5 --no-progress

step "7. md + md-check: LAMMPS + MACE (fix external), 300 K, 200 steps"
mlh-ipi --threads 2 md "$ROOT/lammps_inputs/md_nvt_langevin.in" --mace "$DEMO/mace.model" --data vo.extxyz \
    --temps 300 --steps 200 --out md --var dump_every 20
mlh-ipi md-check md/T300K

step "8. stream: gap and V_O level statistics of the MD frames (offline), then the report"
mlh-ipi --threads 2 stream offline md/T300K/traj.lammpstrj --types O Si --model "$DEMO/mlh.pt" \
    --temperature 300 --defect V_O --out stream
mlh-ipi stream report stream

step "9. formation: host and one V_O relaxed through i-PI with the MLH client (5 steps each)"
SITE=$(python -c "from ase.io import read; print(read('vo.extxyz').info['defect_host_index'])")
E_O2=$(python -c "import json; print(json.load(open('$DEMO/o2.json'))['energy_ev'])")
mlh-ipi --threads 2 formation host.extxyz --sites "$SITE" --engine mlh --model "$DEMO/mlh.pt" \
    --o2-energy-ev "$E_O2" --max-steps 5 --out formation

step "10. serve: i-PI XML + the mlh-ipi client started by the example script (3 steps)"
STRUCTURE=vo.extxyz MAX_STEPS=3 WORKDIR="$T/ipi" "$ROOT/examples/ipi_relax/run.sh" vo_mlh "$DEMO/mlh.pt"

step "done: outputs in $T"
