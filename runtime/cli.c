/* cli.c: see cli.h. */
#include "runtime/cli.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "ringmaster.h"
#include "runtime/control.h"
#include "runtime/log.h"
#include "runtime/options.h"
#include "runtime/pin.h"
#include "runtime/timeline.h"
#include "runtime/world.h"
#include "kernels/kernel.h"
#include "scheduler/farmnode.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage:\n"
            "  ringmaster --help | --version\n"
            "  ringmaster info [--bind core|none] [--bind-policy compact|scatter] [--hold-ms N]\n"
            "      under mpirun: one row per rank: rank, host, pid, bound cores, NUMA node,\n"
            "      and who bound it; --hold-ms keeps the ranks alive N ms for inspection\n"
            "  ringmaster run KERNEL [options]\n"
            "  ringmaster run KERNEL --help\n"
            "  ringmaster timeline TRACE.json --svg OUT.svg [--width PX]\n"
            "      draws a --trace file as a Gantt chart: one row per rank, spans by stage,\n"
            "      failures and elections marked (see 'ringmaster timeline --help')\n\n"
            "Kernels in this build: %s\n\n"
            "Launch under MPI with fault tolerance, for example:\n"
            "  mpirun --enable-recovery -np 4 ringmaster run noop --tasks 10000\n\n"
            "Exit status: 0 success, 2 usage or input error, 3 the job failed.\n\n",
            rm_options_kernels());
    rm_options_print_help(NULL, f);
}

/* Prints a usage error once per job (rank 0, or a process not started by a launcher). The
 * other ranks wait a moment before exiting: without --enable-recovery, mpirun kills the whole
 * job as soon as one rank exits non-zero, which could kill rank 0 before it printed. */
static int usage_error(const char *msg)
{
    int r = rm_world_env_rank();
    if (r <= 0) {
        fprintf(stderr, "ringmaster: error: %s (see 'ringmaster --help')\n", msg);
    } else {
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return RM_EXIT_USAGE;
}

/* True when the directory that would hold path exists and is writable. */
static bool writable_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK) == 0;
}

static enum rm_log_level level_of(const struct rm_options *o)
{
    return o->verbosity < 0 ? RM_LOG_WARN : o->verbosity > 0 ? RM_LOG_DEBUG : RM_LOG_INFO;
}

/* Start-up watchdog. MPI start-up is collective and has no failure detection: a rank that
 * dies during it leaves the others waiting forever (seen here, in MPI_Comm_dup). So start-up
 * gets a deadline; past it the rank says why and exits 3. */
static pthread_mutex_t startup_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t startup_cv = PTHREAD_COND_INITIALIZER;
static bool startup_done;

static void *startup_watchdog(void *arg)
{
    unsigned secs = *(const unsigned *)arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += secs;
    pthread_mutex_lock(&startup_mu);
    while (!startup_done)
        if (pthread_cond_timedwait(&startup_cv, &startup_mu, &until) != 0)
            break;
    bool done = startup_done;
    pthread_mutex_unlock(&startup_mu);
    if (!done) {
        fprintf(stderr,
                "ringmaster: error: MPI start-up did not finish within %u s (a rank "
                "probably died while the job was starting); the job fails\n",
                secs);
        fflush(stderr);
        _exit(RM_EXIT_FAILED);
    }
    return NULL;
}

static void startup_finished(pthread_t *th)
{
    pthread_mutex_lock(&startup_mu);
    startup_done = true;
    pthread_cond_signal(&startup_cv);
    pthread_mutex_unlock(&startup_mu);
    pthread_join(*th, NULL);
}

/* Starts MPI, pins this rank and shares every rank's identity. Collective. */
static int bootstrap_body(int *argc, char ***argv, const struct rm_options *o, struct rm_world *w);

static int bootstrap(int *argc, char ***argv, const struct rm_options *o, struct rm_world *w)
{
    pthread_t th;
    unsigned secs = o->startup_s;
    if (pthread_create(&th, NULL, startup_watchdog, &secs) != 0) {
        fprintf(stderr, "ringmaster: error: cannot start the start-up watchdog\n");
        return RM_EIO;
    }
    int rc = bootstrap_body(argc, argv, o, w);
    startup_finished(&th);
    return rc;
}

static int bootstrap_body(int *argc, char ***argv, const struct rm_options *o, struct rm_world *w)
{
    int rc = rm_world_init(argc, argv, w);
    if (rc != 0) {
        fprintf(stderr, "ringmaster: error: cannot start MPI: %s\n", rm_strerror(rc));
        return rc;
    }
    rm_log_init(w->rank, level_of(o));
    if (w->rank == 0 && w->size > 1 && !w->recovery)
        rm_warn("fault tolerance is off: one rank's death will abort the whole job. Launch "
                "with 'mpirun --enable-recovery' (or export OMPI_MCA_orte_enable_recovery=1) "
                "to survive rank failures");
    struct rm_pin_result pin;
    rc = rm_pin_self(o->bind, o->policy, w->local_rank, w->local_size, &pin);
    if (rc != 0)
        rm_warn("could not bind to a core (%s); running unbound", rm_strerror(rc));
    if (pin.wrapped && w->local_rank == 0)
        rm_warn("%d ranks on this node but fewer cores: ranks share cores (wrap-around)",
                w->local_size);
    struct rm_rank_info mine;
    rm_world_describe_self(w, &pin, &mine);
    rm_debug("bound to cpus %s (numa %s, %s)", mine.cpus, mine.numa,
             rm_pin_source_name(pin.source));
    rc = rm_world_exchange(w, &mine);
    if (rc != 0)
        rm_error("exchanging rank identities: %s", rm_strerror(rc));
    return rc;
}

static int cmd_info(int argc, char **argv, int *pargc, char ***pargv)
{
    struct rm_options o;
    char err[256];
    if (rm_options_parse_info(argc, argv, &o, err, sizeof err) != 0)
        return usage_error(err);
    struct rm_world w;
    if (bootstrap(pargc, pargv, &o, &w) != 0)
        return RM_EXIT_FAILED;
    if (w.rank == 0) {
        printf("%-6s %-20s %-8s %-12s %-6s %s\n", "rank", "host", "pid", "cores", "numa",
               "bound-by");
        for (int r = 0; r < w.size; r++) {
            const struct rm_rank_info *i = &w.info[r];
            printf("%-6d %-20s %-8d %-12s %-6s %s\n", i->rank, i->host, i->pid, i->cpus, i->numa,
                   rm_pin_source_name((enum rm_pin_source)i->pin_source));
        }
        fflush(stdout);
    }
    if (o.hold_ms) {
        struct timespec ts = {(time_t)(o.hold_ms / 1000), (long)(o.hold_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    rm_world_finalize(&w, false);
    return RM_EXIT_OK;
}

/* Printed by the leader that saw the job finish, after the kernel's own summary. */
static void print_summary(const struct rm_world *w, const struct rm_farmnode_summary *s)
{
    printf("leader: rank %d (pid %d on %s), term %llu; this rank saw %u leader%s elected\n",
           w->rank, w->info[w->rank].pid, w->info[w->rank].host, (unsigned long long)s->st.term,
           s->st.leader_changes, s->st.leader_changes == 1 ? "" : "s");
    fflush(stdout);
}

static void log_transport(struct rm_control *ctl)
{
    struct rm_transport_stats st;
    rm_control_stats(ctl, &st);
    rm_debug("transport: %llu frames sent in %llu batches (%llu through shared memory), %llu "
             "received in %llu batches, "
             "%llu malformed dropped, %llu batches from dead ranks dropped, %llu sends to dead "
             "ranks refused",
             (unsigned long long)st.frames_sent, (unsigned long long)st.batches_sent,
             (unsigned long long)st.batches_shm, (unsigned long long)st.frames_received, (unsigned long long)st.batches_received,
             (unsigned long long)st.malformed, (unsigned long long)st.from_dead,
             (unsigned long long)st.refused_dead);
}

/* Runs a kernel on a started world; returns the exit status. *peers_died tells whether any
 * rank died or was fenced during the job (this one included). */
static int run_kernel(struct rm_world *w, const struct rm_options *o,
                      const struct rm_farm_kernel *kernel, bool *peers_died)
{
    struct rm_control_config cc = {.comm = w->comm,
                                   .heartbeat_ns = o->heartbeat_ms * RM_NS_PER_MS,
                                   .suspect_ns = o->suspect_ms * RM_NS_PER_MS,
                                   .watchers = o->watchers,
                                   .no_self_fence =
                                       getenv("RINGMASTER_FAULT_NO_SELF_FENCE") != NULL};
    struct rm_control *ctl;
    struct rm_farmnode *k = NULL;
    struct rm_farmnode_summary sum = {0};
    int status = RM_EXIT_FAILED;
    int rc = rm_control_create(&cc, &ctl);
    if (rc != 0) {
        rm_error("starting the control thread: %s", rm_strerror(rc));
        return RM_EXIT_FAILED;
    }
    if ((rc = rm_farmnode_create(ctl, o, w->info, kernel, &k)) != 0 ||
        (rc = rm_control_start(ctl)) != 0) {
        if (rc == RM_EUSAGE) /* a checkpoint that cannot be resumed: said by rank 0 */
            status = RM_EXIT_USAGE;
        else
            rm_error("starting the kernel: %s", rm_strerror(rc));
        goto out;
    }
    status = rm_farmnode_run(k, &sum);
    rc = rm_control_stop(ctl, 2000);
    if (rc != 0)
        rm_warn("control thread: %s (%d)", rm_strerror(rc), rc);
    log_transport(ctl);
    *peers_died = rm_control_fenced(ctl) || rm_control_live_count(ctl) < w->size;
    if (status == 0 && sum.st.finished_here)
        print_summary(w, &sum);
out:
    rm_farmnode_destroy(k);
    rm_control_destroy(ctl);
    return status;
}

/* Runs an opened kernel from MPI start-up to the end; owns and closes the kernel. */
static int run_opened(struct rm_options *o, struct rm_farm_kernel *kernel, int *pargc,
                      char ***pargv)
{
    struct rm_world w;
    if (bootstrap(pargc, pargv, o, &w) != 0) {
        rm_kernel_close(kernel);
        return RM_EXIT_FAILED;
    }
    bool peers_died = false;
    int status = run_kernel(&w, o, kernel, &peers_died);
    rm_world_finalize(&w, peers_died);
    rm_world_exit_if_died(peers_died, status); /* MPI not finalized: leave without teardown */
    rm_kernel_close(kernel);
    return status;
}

/* The checks every run makes before MPI starts; 0 or the exit status of a usage error. */
static int check_common(const struct rm_options *o)
{
    char err[256];
    struct stat sb;
    if (o->checkpoint_dir && (stat(o->checkpoint_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
                              access(o->checkpoint_dir, W_OK | X_OK) != 0)) {
        snprintf(err, sizeof err, "--checkpoint-dir %s: not a writable directory",
                 o->checkpoint_dir);
        return usage_error(err);
    }
    const char *files[][2] = {
        {"--status", o->status_path}, {"--report", o->report_path}, {"--trace", o->trace_path}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (files[i][1] && !writable_dir_of(files[i][1])) {
            snprintf(err, sizeof err, "%s %s: the directory is missing or not writable",
                     files[i][0], files[i][1]);
            return usage_error(err);
        }
    return 0;
}

/* Every rank opens the kernel (reads and checks the input) before MPI starts: bad input is a
 * usage error, reported once. Returns 0 with *kernel set, or an exit status. */
static int opened(int rc, const char *name, const char *err)
{
    if (rc == RM_EUSAGE || rc == RM_ENOENT)
        return usage_error(err);
    if (rc != 0) {
        fprintf(stderr, "ringmaster: error: opening %s: %s\n", name, rm_strerror(rc));
        return RM_EXIT_FAILED;
    }
    return 0;
}

static int env_rank0(void)
{
    return rm_world_env_rank() < 0 ? 0 : rm_world_env_rank();
}

static int cmd_run(int argc, char **argv, int *pargc, char ***pargv)
{
    struct rm_options o;
    char err[256] = "";
    int rc = rm_options_parse(argc, argv, &o, err, sizeof err);
    if (rc != 0)
        return usage_error(err);
    if ((rc = check_common(&o)) != 0)
        return rc;
    if (o.help) {
        if (rm_world_env_rank() <= 0)
            rm_options_print_help(o.kernel, stdout);
        return RM_EXIT_OK;
    }
    struct rm_farm_kernel *kernel = NULL;
    rc = opened(rm_kernel_open(&o, env_rank0(), &kernel, err, sizeof err), o.kernel, err);
    return rc != 0 ? rc : run_opened(&o, kernel, pargc, pargv);
}

/* `ringmaster timeline`: no MPI. Every error is an input or usage error (exit 2) except
 * running out of memory. */
static int cmd_timeline(int argc, char **argv)
{
    struct rm_timeline_options o;
    char err[512];
    if (rm_timeline_parse_args(argc, argv, &o, err, sizeof err) != 0)
        return usage_error(err);
    if (o.help) {
        rm_timeline_print_help(stdout);
        return RM_EXIT_OK;
    }
    int rc = rm_timeline_render(&o, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "ringmaster: error: %s\n", err);
    return rc == 0 ? RM_EXIT_OK : rc == RM_ENOMEM ? RM_EXIT_FAILED : RM_EXIT_USAGE;
}

int rm_job_main(int argc, char **argv, const struct rm_job *job)
{
    struct rm_options o;
    char err[256] = "";
    const char *name = job && job->name ? job->name : "job";
    int rc = rm_options_parse_job(argc, argv, &o, err, sizeof err);
    if (rc != 0)
        return usage_error(err);
    if ((rc = check_common(&o)) != 0)
        return rc;
    if (o.help) {
        if (rm_world_env_rank() <= 0) {
            printf("Usage: %s --input PATH [PATH...] --output FILE [options]\n"
                   "A Ringmaster map-reduce job (%s); run it under mpirun --enable-recovery.\n\n",
                   argv[0], name);
            rm_options_print_help("job", stdout);
        }
        return RM_EXIT_OK;
    }
    struct rm_farm_kernel *kernel = NULL;
    rc = opened(rm_kernel_usermr_open(&o, job, env_rank0(), &kernel, err, sizeof err), name, err);
    return rc != 0 ? rc : run_opened(&o, kernel, &argc, &argv);
}

int rm_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return RM_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("ringmaster %s\n", rm_version());
        return RM_EXIT_OK;
    }
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1, &argc, &argv);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2, &argc, &argv);
    if (strcmp(cmd, "timeline") == 0)
        return cmd_timeline(argc - 2, argv + 2);
    char msg[160];
    snprintf(msg, sizeof msg, "unknown command '%s'", cmd);
    return usage_error(msg);
}
