/*
 * epochcomm.h: one communicator per membership epoch, for data-plane collectives.
 *
 * A collective over a communicator that contains a dead rank hangs, so data-plane
 * collectives run only on the current epoch's communicator, built with MPI_Comm_create_group
 * over that epoch's committed live set (which survives a SIGKILL of the excluded ranks; see
 * shared/DESIGN.md). MPI_Comm_create_group is blocking and collective over the set, and hangs
 * if a member dies during the call, so it never runs on the control thread: each build runs on
 * a short-lived builder thread (the one exception to "the control thread owns every MPI call",
 * which needs MPI_THREAD_MULTIPLE). A build overtaken by a newer epoch, or stuck because a member
 * died during it, is abandoned; its thread is never joined.
 *
 * Threads: rm_epochcomm_request from the control thread; rm_epochcomm_current from any thread.
 */
#ifndef RM_EPOCHCOMM_H
#define RM_EPOCHCOMM_H

#include <mpi.h>
#include <stdint.h>

struct rm_epochcomm;

/* base: the job communicator (borrowed). Returns 0, RM_ENOMEM or RM_EIO. */
int rm_epochcomm_create(MPI_Comm base, struct rm_epochcomm **out);

/* Starts building the communicator of `epoch` over the ranks whose bit is set in live
 * (size bits, borrowed, copied). Ignored unless epoch is newer than the last request.
 * Returns 0, RM_ENOMEM or RM_EIO (thread creation failed). */
int rm_epochcomm_request(struct rm_epochcomm *ec, uint64_t epoch, const uint8_t *live,
                         int size);

/* Returns the newest communicator built (MPI_COMM_NULL before any) and its epoch and size. */
MPI_Comm rm_epochcomm_current(struct rm_epochcomm *ec, uint64_t *epoch, int *size);

/* Frees the object. Communicators and stuck builder threads are left to MPI_Finalize and
 * process exit: freeing a communicator is collective too. Safe with NULL. */
void rm_epochcomm_destroy(struct rm_epochcomm *ec);

#endif /* RM_EPOCHCOMM_H */
