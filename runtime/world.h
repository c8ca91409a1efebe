/*
 * world.h: rank bootstrap and teardown.
 *
 * rm_world_init starts MPI with MPI_THREAD_MULTIPLE, duplicates MPI_COMM_WORLD into a private
 * communicator whose error handler is MPI_ERRORS_RETURN, and finds the node-local rank with
 * MPI_Comm_split_type(SHARED). rm_world_exchange shares every rank's identity (host, pid,
 * binding). Both are collective and run on the main thread before the control thread starts;
 * rm_world_finalize runs on the main thread after it stopped (MPI requires the thread that
 * initialized MPI to finalize it). In between, the control thread owns every MPI call.
 */
#ifndef RM_WORLD_H
#define RM_WORLD_H

#include <mpi.h>
#include <stdbool.h>
#include <sys/types.h>

#include "runtime/pin.h"

struct rm_rank_info {
    int rank;
    int pid;
    char host[64];
    char cpus[256]; /* same sizes as struct rm_pin_result */
    char numa[64];
    int pin_source; /* enum rm_pin_source */
};

struct rm_world {
    MPI_Comm comm; /* private duplicate of MPI_COMM_WORLD, MPI_ERRORS_RETURN */
    int rank, size;
    int local_rank, local_size;
    bool recovery;  /* the launcher keeps survivors alive when a rank dies */
    struct rm_rank_info *info; /* size entries after rm_world_exchange; owned */
};

/* Collective over MPI_COMM_WORLD. argc/argv: borrowed (passed to MPI_Init_thread).
 * Returns 0, RM_EMPI (MPI failed or lacks MPI_THREAD_MULTIPLE), RM_ENOMEM. */
int rm_world_init(int *argc, char ***argv, struct rm_world *w);

/* Collective: gathers every rank's info. mine: borrowed. Returns 0, RM_EMPI or RM_ENOMEM. */
int rm_world_exchange(struct rm_world *w, const struct rm_rank_info *mine);

/* Fills this rank's row from a pin result. Can't fail. */
void rm_world_describe_self(const struct rm_world *w, const struct rm_pin_result *pin,
                            struct rm_rank_info *out);

/* Finalizes MPI and frees w->info. Main thread, after the control thread stopped.
 * With peers_died, MPI_Finalize is skipped: in Open MPI 4.1 it waits on a job-wide fence that
 * can hang forever once a rank has died (seen here, intermittently, on one host). The caller
 * then just exits with its status; its outputs must already be complete. */
void rm_world_finalize(struct rm_world *w, bool peers_died);

/* Ends the process with status when peers died (after rm_world_finalize skipped MPI_Finalize):
 * flushes stdio and calls _exit, so that no exit handler of a library that was never finalized
 * (MPI's, PMIx's) can block, and no thread left inside MPI (an abandoned epoch-communicator
 * build) holds the exit up. Returns at once, doing nothing, otherwise. */
void rm_world_exit_if_died(bool peers_died, int status);

/* Reads this process's rank from the launcher's environment before MPI starts (Open MPI,
 * PMIx, PMI, Slurm). Returns -1 when not launched by one. Can't fail. */
int rm_world_env_rank(void);

#endif /* RM_WORLD_H */
