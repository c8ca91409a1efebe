# shellcheck shell=bash
# ringmaster-job.sh: what the Slurm and PBS scripts in jobs/ share. A batch script sources it
# and calls
#
#     rm_job KERNEL [ringmaster run options...]
#
# which launches the ranks (mpirun or srun), forwards a stop signal to them, works out how the
# job ended, runs it again from its checkpoint when ranks were lost, and, when the job stopped
# at its time limit after a checkpoint, submits the job that finishes it. rm_job does not
# return: the batch script exits with Ringmaster's status (see "Exit status" below).
#
# Settings, all from the environment (a script may set defaults before sourcing this file):
#   RINGMASTER        the program [ringmaster, from PATH]
#   RM_LAUNCHER       mpirun | srun [mpirun]. mpirun --enable-recovery survives a rank's
#                     death inside one launch; srun --mpi=pmix does not (Slurm kills the whole
#                     step), so rm_job launches again from the checkpoint (jobs/README.md)
#   RM_NP             number of ranks [Slurm: SLURM_NTASKS; PBS: lines of PBS_NODEFILE]
#   RM_LAUNCH_ARGS    more launcher options, split on spaces (e.g. "--oversubscribe")
#   RM_ARGS           more ringmaster options, split on spaces (e.g. "--suspect-ms 2000")
#   RM_BIND, RM_BIND_POLICY
#                     ringmaster --bind core|none and --bind-policy compact|scatter
#                     [core, compact]. The launcher itself is told not to bind, so each rank
#                     pins itself to one core with hwloc
#   RM_CHAIN_DIR      the folder this job and its continuations share: checkpoint (ckpt/),
#                     status files, per-rank exit codes. It must be on a file system every
#                     node sees [SUBMIT_DIR/ringmaster-JOBID, JOBID of the first job]
#   RM_CKPT_INTERVAL  seconds between checkpoints while the job runs; 0 only at stage ends
#                     and on signals [600]
#   RM_RESUME         1: continue the job checkpointed in RM_CHAIN_DIR (set for a continuation)
#   RM_RESUBMIT       1: after a stop at the time limit, submit the continuation [1]
#   RM_MAX_CHAIN      continuations allowed after the first job [10]
#   RM_CHAIN          how many jobs of this chain came before this one [0]
#   RM_SUBMIT_ARGS    more sbatch/qsub options for the continuation, split on spaces (options
#                     given on the first sbatch command line are not repeated otherwise)
#   RM_SCRIPT         the script the continuation runs [Slurm: the submitted script, from
#                     scontrol; PBS: RM_JOBS/pbs/<name>]
#   RM_RELAUNCHES     launches again, inside this job, after ranks were lost [2]
#   RM_STOP_AFTER     seconds after which the ranks are told to checkpoint and stop [PBS:
#                     walltime - RM_STOP_LEAD; Slurm: none, #SBATCH --signal does it]
#   RM_STOP_LEAD      seconds of warning before the walltime, under PBS [300]
#   RM_INFO           1: print where each rank is pinned first (ringmaster info) [1]
#
# Exit status: Ringmaster's: 0 done, 2 usage or input error, 3 the job failed, 4 stopped after
# a last checkpoint (a continuation was submitted when RM_RESUBMIT allows), and 5 when ranks
# were lost more often than RM_RELAUNCHES allows.
#
# Every line this file prints starts with "rm-job:", so `grep rm-job: JOB.out` tells the story.

rm__log() { echo "rm-job: $*"; }

# Splits a settings string on blanks into the array named by $1 (no globbing, no quotes).
rm__split() {
    read -r -a "$1" <<<"${2:-}"
}

# Sets RM_SYSTEM (slurm, pbs or none), RM_JOBID and RM_SUBMIT_DIR.
rm__detect() {
    if [ -n "${SLURM_JOB_ID:-}" ]; then
        RM_SYSTEM=slurm RM_JOBID=$SLURM_JOB_ID RM_SUBMIT_DIR=${SLURM_SUBMIT_DIR:-$PWD}
    elif [ -n "${PBS_JOBID:-}" ]; then
        RM_SYSTEM=pbs RM_JOBID=$PBS_JOBID RM_SUBMIT_DIR=${PBS_O_WORKDIR:-$PWD}
        cd "$RM_SUBMIT_DIR" || exit 2 # PBS starts jobs in $HOME
    else
        RM_SYSTEM=none RM_JOBID=$$ RM_SUBMIT_DIR=$PWD
    fi
}

rm__defaults() {
    RINGMASTER=${RINGMASTER:-ringmaster}
    RM_LAUNCHER=${RM_LAUNCHER:-mpirun}
    RM_BIND=${RM_BIND:-core}
    RM_BIND_POLICY=${RM_BIND_POLICY:-compact}
    RM_CKPT_INTERVAL=${RM_CKPT_INTERVAL:-600}
    RM_RESUME=${RM_RESUME:-0}
    RM_RESUBMIT=${RM_RESUBMIT:-1}
    RM_MAX_CHAIN=${RM_MAX_CHAIN:-10}
    RM_CHAIN=${RM_CHAIN:-0}
    RM_RELAUNCHES=${RM_RELAUNCHES:-2}
    RM_STOP_LEAD=${RM_STOP_LEAD:-300}
    RM_INFO=${RM_INFO:-1}
    RM_CHAIN_DIR=${RM_CHAIN_DIR:-$RM_SUBMIT_DIR/ringmaster-${RM_JOBID%%.*}}
    if [ -z "${RM_NP:-}" ]; then
        case $RM_SYSTEM in
        slurm) RM_NP=${SLURM_NTASKS:-} ;;
        pbs) RM_NP=$(wc -l <"$PBS_NODEFILE") ;;
        *) RM_NP=1 ;;
        esac
    fi
    if [ -z "$RM_NP" ]; then
        rm__log "how many ranks? give sbatch --ntasks, or set RM_NP"
        exit 2
    fi
    # A continuation inherits these through the environment.
    export RINGMASTER RM_LAUNCHER RM_BIND RM_BIND_POLICY RM_CKPT_INTERVAL RM_RESUBMIT \
        RM_MAX_CHAIN RM_RELAUNCHES RM_STOP_LEAD RM_INFO RM_CHAIN_DIR
}

# Sets the array RM_LAUNCH: the launcher command line, without the program.
rm__launcher() {
    local extra
    rm__split extra "${RM_LAUNCH_ARGS:-}"
    case $RM_LAUNCHER in
    mpirun)
        # --enable-recovery: a rank's death does not end the launch. --bind-to none: the ranks
        # pin themselves (ringmaster --bind). Under PBS, Debian's Open MPI has no PBS (tm)
        # support, so it is given the node file.
        RM_LAUNCH=(mpirun --enable-recovery --bind-to none -np "$RM_NP")
        [ "$RM_SYSTEM" = pbs ] && RM_LAUNCH+=(--hostfile "$PBS_NODEFILE")
        # On several Slurm nodes mpirun starts its daemons with srun. Under recovery it does
        # not ask srun to kill them all when one dies, but a cluster's KillOnBadExit=1 would:
        # a node's death would take every other node's ranks with it. (Open MPI 4.1's source;
        # not tested here, where there is one node.)
        [ "$RM_SYSTEM" = slurm ] &&
            export OMPI_MCA_plm_slurm_args=${OMPI_MCA_plm_slurm_args:---kill-on-bad-exit=0}
        ;;
    srun)
        # pmix: Debian's Open MPI starts under pmix, not pmi2. --kill-on-bad-exit=0: a rank
        # that ends with an error (one that fenced itself) does not make srun SIGTERM the
        # others, which they would take for a stop, whatever the cluster's KillOnBadExit.
        # --no-kill: a failed node does not end the step. Even so, Slurm's PMIx plugin kills
        # the whole step when a rank dies (jobs/README.md); rm_job then launches again.
        RM_LAUNCH=(srun --mpi=pmix --ntasks="$RM_NP" --cpu-bind=none --kill-on-bad-exit=0
            --no-kill)
        ;;
    *)
        rm__log "RM_LAUNCHER must be mpirun or srun, not '$RM_LAUNCHER'"
        exit 2
        ;;
    esac
    RM_LAUNCH+=("${extra[@]}")
}

# Forwards a stop signal to the running launch, which passes it to every rank: each writes a
# last checkpoint and the job exits with status 4. Slurm's --signal=B:USR1@N reaches only this
# shell, and the time limit's SIGTERM would end this shell before it could resubmit.
rm__on_signal() {
    RM_SIGNALLED=$1
    rm__log "SIG$1 received: telling the ranks to checkpoint and stop"
    [ -n "${RM_CHILD:-}" ] && kill -"$1" "$RM_CHILD" 2>/dev/null
}

# Waits for the background launch RM_CHILD, however many signals arrive meanwhile.
rm__wait_child() {
    local rc
    while :; do
        wait "$RM_CHILD"
        rc=$?
        kill -0 "$RM_CHILD" 2>/dev/null || break
    done
    RM_CHILD=''
    return "$rc"
}

# After $1 seconds, sends SIGUSR1 to this shell (where no --signal exists: PBS).
rm__start_timer() {
    [ -n "${1:-}" ] && [ "$1" -gt 0 ] 2>/dev/null || return 0
    (
        trap 'kill "$s" 2>/dev/null; exit 0' TERM
        sleep "$1" &
        s=$!
        wait "$s" && kill -USR1 $$
    ) &
    RM_TIMER=$!
    rm__log "the ranks will be told to checkpoint and stop after $1 s"
}

rm__stop_timer() {
    [ -n "${RM_TIMER:-}" ] && kill -TERM "$RM_TIMER" 2>/dev/null && wait "$RM_TIMER" 2>/dev/null
    RM_TIMER=''
}

# Prints the walltime of this PBS job in seconds, or nothing.
rm__pbs_walltime() {
    local w
    w=$(qstat -f "$PBS_JOBID" 2>/dev/null | sed -n 's/^ *Resource_List.walltime = //p')
    [ -n "$w" ] && echo "$w" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i;
                                           print s }'
}

# Prints the path of the submitted script, for the continuation.
rm__script_path() {
    if [ -n "${RM_SCRIPT:-}" ]; then
        echo "$RM_SCRIPT"
    elif [ "$RM_SYSTEM" = slurm ]; then
        local s
        s=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=//p')
        [ -f "$s" ] && echo "$s" || echo "$0"
    else
        echo "$0"
    fi
}

# Works out how a launch ended, from its per-rank exit codes (folder $1) and the status file
# ($2); prints 0, 2, 3, 4, or 5 when ranks were lost: killed, or never recorded a status
# because the launch was ended under them.
rm__step_status() {
    local rcdir=$1 status=$2 codes
    codes=$(cat "$rcdir"/rc.* 2>/dev/null)
    if grep -q '"state": *"done"' "$status" 2>/dev/null; then
        echo 0
        return
    fi
    echo "$codes" | awk -v np="$RM_NP" '
        NF { n++; c[$1] = 1; if ($1 >= 128) killed = 1 }
        END { if (4 in c) print 4
              else if (2 in c) print 2
              else if (n < np || killed) print 5
              else if ((0 in c) && length(c) == 1) print 0
              else print 3 }'
}

# Launch number $1 of `ringmaster run "$@"`; sets RM_STATUS.
rm__launch() {
    local step=$1 rcdir status
    shift
    rcdir=$RM_CHAIN_DIR/$RM_JOBID.rc.$step
    status=$RM_CHAIN_DIR/$RM_JOBID.status.json
    rm -rf "$rcdir" && mkdir -p "$rcdir" || exit 2
    rm -f "$status"
    local args=("$@" --checkpoint-dir "$RM_CHAIN_DIR/ckpt" --status "$status" --bind "$RM_BIND"
        --bind-policy "$RM_BIND_POLICY")
    [ "$RM_CKPT_INTERVAL" -gt 0 ] && args+=(--checkpoint-interval "$RM_CKPT_INTERVAL")
    if [ "$RM_RESUME" = 1 ]; then
        if [ -f "$RM_CHAIN_DIR/ckpt/job.h5" ]; then
            args+=(--resume)
        else
            rm__log "no checkpoint in $RM_CHAIN_DIR/ckpt yet: starting from the beginning"
        fi
    fi
    local more
    rm__split more "${RM_ARGS:-}"
    args+=("${more[@]}")
    rm__log "launch $step: ${RM_LAUNCH[*]} $RINGMASTER run ${args[*]}"
    # Each rank runs in a small shell that records its exit status (mpirun --enable-recovery
    # always exits 0). The shell catches, and does nothing with, the stop signals that the
    # launchers send to the whole process group, so that the rank, not its shell, acts on them.
    # shellcheck disable=SC2016
    "${RM_LAUNCH[@]}" sh -c 'd=$1; shift; trap : USR1 TERM; "$@"; rc=$?
        echo $rc >"$d/rc.${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-$$}}}"; exit $rc' \
        rm-rank "$rcdir" "$RINGMASTER" run "${args[@]}" </dev/null &
    RM_CHILD=$!
    rm__wait_child
    local lrc=$?
    RM_STATUS=$(rm__step_status "$rcdir" "$status")
    local counts
    counts=$(cat "$rcdir"/rc.* 2>/dev/null | sort -n | uniq -c |
        awk '{ printf "%s%sx%s", s, $1, $2; s = ", " }')
    rm__log "launch $step ended: launcher status $lrc, rank statuses ${counts:-none}," \
        "job status $RM_STATUS"
}

# Submits the job that continues this one from its checkpoint, once this one has ended.
rm__resubmit() {
    local script extra next=$((RM_CHAIN + 1))
    if [ "$RM_RESUBMIT" != 1 ] || [ "$RM_SYSTEM" = none ]; then
        rm__log "stopped; to finish, run again with RM_RESUME=1 RM_CHAIN_DIR=$RM_CHAIN_DIR"
        return
    fi
    if [ "$next" -gt "$RM_MAX_CHAIN" ]; then
        rm__log "stopped; not resubmitting: $RM_CHAIN continuations already (RM_MAX_CHAIN)"
        return
    fi
    script=$(rm__script_path)
    rm__split extra "${RM_SUBMIT_ARGS:-}"
    local vars="RM_RESUME=1,RM_CHAIN=$next,RM_CHAIN_DIR=$RM_CHAIN_DIR"
    local out
    if [ "$RM_SYSTEM" = slurm ]; then
        # In a subshell without this job's SLURM_* variables, which would leak into the next.
        out=$(
            for v in $(compgen -e); do
                case $v in SLURM_CONF) ;; SLURM_*) unset "$v" ;; esac
            done
            sbatch --dependency="afterany:$RM_JOBID" --export="ALL,$vars" "${extra[@]}" \
                "$script" 2>&1
        )
    else
        out=$(qsub -W depend="afterany:$PBS_JOBID" -V -v "$vars" "${extra[@]}" "$script" 2>&1)
    fi
    local rc=$?
    rm__log "continuation $next of $script: $out (status $rc)"
}

rm_job() {
    local kernel=$1
    shift
    rm__detect
    rm__defaults
    rm__launcher
    mkdir -p "$RM_CHAIN_DIR/ckpt" || exit 2
    RM_SIGNALLED='' RM_CHILD='' RM_TIMER=''
    trap 'rm__on_signal USR1' USR1
    trap 'rm__on_signal TERM' TERM
    local nodes=${SLURM_JOB_NODELIST:-}
    [ "$RM_SYSTEM" = pbs ] && nodes=$(sort -u "$PBS_NODEFILE" | paste -sd ' ')
    rm__log "$kernel: job $RM_JOBID ($RM_SYSTEM) on ${nodes:-$(hostname)}: $RM_NP ranks by" \
        "$RM_LAUNCHER; chain $RM_CHAIN in $RM_CHAIN_DIR; resume $RM_RESUME"
    local stop=${RM_STOP_AFTER:-}
    if [ -z "$stop" ] && [ "$RM_SYSTEM" = pbs ]; then
        local wall
        wall=$(rm__pbs_walltime)
        [ -n "$wall" ] && stop=$((wall > RM_STOP_LEAD ? wall - RM_STOP_LEAD : wall / 2))
    fi
    rm__start_timer "$stop"
    if [ "$RM_INFO" = 1 ]; then
        rm__log "where the ranks are pinned:"
        "${RM_LAUNCH[@]}" "$RINGMASTER" info --bind "$RM_BIND" --bind-policy "$RM_BIND_POLICY" \
            </dev/null
    fi
    local step=1
    while :; do
        if [ -n "$RM_SIGNALLED" ]; then # it came before a launch could pass it on
            rm__log "stopped before launch $step"
            RM_STATUS=4
            break
        fi
        rm__launch "$step" "$kernel" "$@"
        if [ "$RM_STATUS" = 5 ] && [ -n "$RM_SIGNALLED" ]; then
            rm__log "ranks were lost while stopping: the continuation resumes from the last" \
                "checkpoint"
            RM_STATUS=4
        fi
        if [ "$RM_STATUS" != 5 ] || [ "$step" -gt "$RM_RELAUNCHES" ]; then
            break
        fi
        step=$((step + 1))
        RM_RESUME=1
        rm__log "ranks were lost: launching again from the last checkpoint"
    done
    rm__stop_timer
    case $RM_STATUS in
    0) rm__log "done" ;;
    4) rm__resubmit ;;
    5) rm__log "ranks were lost $step times; the checkpoint is in $RM_CHAIN_DIR/ckpt" ;;
    *) rm__log "failed with status $RM_STATUS" ;;
    esac
    rm__log "exit $RM_STATUS"
    exit "$RM_STATUS"
}
