#!/usr/bin/env bash
# A live one-node SLURM cluster on this machine, for the SLURM tests and for trying the
# jobs/ scripts: munge + slurmctld + slurmd on this host, one partition, cons_tres
# selection, requeue on preemption. Installs nothing (scripts/install-deps.sh has the
# Debian packages slurm-wlm and munge); needs root (CI and these sessions run as root).
#   scripts/slurm-local.sh up     start and wait until the node is idle; prints the
#                                 SLURM_CONF to export
#   scripts/slurm-local.sh down   stop everything it started
#   scripts/slurm-local.sh env    print `export SLURM_CONF=...`
# State lives in $IRISML_SLURM_DIR (default /tmp/irisml-slurm).
set -euo pipefail
D=${IRISML_SLURM_DIR:-/tmp/irisml-slurm}
CONF=$D/slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

up() {
  for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "slurm-local: $tool not found; install slurm-wlm and munge (scripts/install-deps.sh --slurm)" >&2; exit 2; }
  done
  mkdir -p "$D/state" "$D/spool" "$D/munge"
  cat > "$CONF" <<CONF
ClusterName=irisml-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
JobRequeue=1
KillWait=10
InactiveLimit=0
MinJobAge=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown -R munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    runuser -u munge -- munged
  fi
  SLURM_CONF=$CONF slurmctld -f "$CONF"
  SLURM_CONF=$CONF slurmd -f "$CONF"
  for _ in $(seq 60); do
    if SLURM_CONF=$CONF sinfo -h -o %T 2>/dev/null | grep -qx idle; then
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 1
  done
  echo "slurm-local: the node did not become idle in 60 s; logs: $D/slurmctld.log $D/slurmd.log" >&2
  tail -5 "$D/slurmctld.log" "$D/slurmd.log" >&2 || true
  exit 1
}

down() {
  for pidfile in "$D/slurmd.pid" "$D/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  pkill -f "slurmd -f $CONF" 2>/dev/null || true
  pkill -f "slurmctld -f $CONF" 2>/dev/null || true
  rm -rf "$D/state" "$D/spool"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: scripts/slurm-local.sh up|down|env" >&2; exit 2 ;;
esac
