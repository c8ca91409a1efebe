/* world.c: see world.h. */
#include "runtime/world.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringmaster.h"

int rm_world_env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* Open MPI's default PML selection tries UCX first, which takes about 0.2 s of every start-up on
 * a machine without InfiniBand or RoCE hardware and then falls back to ob1 anyway. Without
 * such hardware (no /sys/class/infiniband entries), and unless the user chose a PML, start
 * with ob1. */
static void pick_pml(void)
{
    if (getenv("OMPI_MCA_pml") || getenv("RINGMASTER_KEEP_PML"))
        return;
    DIR *d = opendir("/sys/class/infiniband");
    bool rdma = false;
    for (struct dirent *e; d && (e = readdir(d));)
        rdma |= e->d_name[0] != '.';
    if (d)
        closedir(d);
    if (!rdma)
        setenv("OMPI_MCA_pml", "ob1", 0);
}

int rm_world_init(int *argc, char ***argv, struct rm_world *w)
{
    *w = (struct rm_world){.comm = MPI_COMM_NULL};
    int provided = 0;
    pick_pml();
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return RM_EMPI;
    if (provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, "ringmaster: error: this MPI library does not provide "
                        "MPI_THREAD_MULTIPLE\n");
        return RM_EMPI;
    }
    MPI_Comm local;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &w->comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(w->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(w->comm, &w->rank) != MPI_SUCCESS ||
        MPI_Comm_size(w->comm, &w->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(w->comm, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &local) !=
            MPI_SUCCESS)
        return RM_EMPI;
    int rc = MPI_Comm_rank(local, &w->local_rank) == MPI_SUCCESS &&
                     MPI_Comm_size(local, &w->local_size) == MPI_SUCCESS
                 ? 0
                 : RM_EMPI;
    MPI_Comm_free(&local);
    const char *rec = getenv("OMPI_MCA_orte_enable_recovery");
    w->recovery = rec && (strcmp(rec, "1") == 0 || strcmp(rec, "true") == 0);
    return rc;
}

void rm_world_describe_self(const struct rm_world *w, const struct rm_pin_result *pin,
                            struct rm_rank_info *out)
{
    *out = (struct rm_rank_info){.rank = w->rank, .pid = (int)getpid()};
    if (gethostname(out->host, sizeof out->host - 1) != 0)
        snprintf(out->host, sizeof out->host, "?");
    snprintf(out->cpus, sizeof out->cpus, "%s", pin->cpus);
    snprintf(out->numa, sizeof out->numa, "%s", pin->numa);
    out->pin_source = (int)pin->source;
}

int rm_world_exchange(struct rm_world *w, const struct rm_rank_info *mine)
{
    free(w->info);
    w->info = calloc((size_t)w->size, sizeof *w->info);
    if (!w->info)
        return RM_ENOMEM;
    if (MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, w->info, (int)sizeof *mine, MPI_BYTE,
                      w->comm) != MPI_SUCCESS)
        return RM_EMPI;
    return 0;
}

void rm_world_finalize(struct rm_world *w, bool peers_died)
{
    free(w->info);
    w->info = NULL;
    if (peers_died) {
        fflush(stdout);
        fflush(stderr);
        return;
    }
    /* The private communicator is not freed: MPI_Comm_free may synchronize with dead ranks.
     * MPI_Finalize releases it. */
    MPI_Finalize();
}

void rm_world_exit_if_died(bool peers_died, int status)
{
    if (!peers_died)
        return;
    fflush(stdout);
    fflush(stderr);
    _exit(status);
}
