/*
 * gather.h: the leader collects one message from every other live rank at the end of a job
 * (their trace records, for --report and --trace), without collectives: a rank may have died,
 * and the communicator with it.
 *
 * The waiting thread opens a round, asks the ranks (a broadcast, sent by the control thread),
 * and waits until every rank not known dead has answered, or a deadline passes. The control
 * thread files each answer with rm_gather_put. Thread-safe.
 */
#ifndef RM_SCHEDULER_GATHER_H
#define RM_SCHEDULER_GATHER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rm_gather {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size;
    bool open;
    unsigned char **data; /* per rank, malloc'd copies; NULL until answered */
    size_t *len;
};

/* Sets g up for size ranks. Returns 0 or RM_ENOMEM. Release with rm_gather_close. */
int rm_gather_init(struct rm_gather *g, int size);
void rm_gather_close(struct rm_gather *g);

/* Opens a round: answers are accepted from now on (earlier ones are dropped). Any thread. */
void rm_gather_open(struct rm_gather *g);

/* Files rank's answer (payload borrowed, copied). Ignored when no round is open, rank is out of
 * range, it already answered, or memory runs out. Any thread (the control thread). */
void rm_gather_put(struct rm_gather *g, int rank, const void *payload, size_t len);

/* Waits until every rank but self whose dead[] entry is false has answered, or timeout_ns have
 * passed, then closes the round. Returns the number of answers. The answers stay in g->data
 * and g->len until rm_gather_close. Any thread but the control thread. */
uint32_t rm_gather_wait(struct rm_gather *g, int self, const atomic_bool *dead,
                        uint64_t timeout_ns);

#endif /* RM_SCHEDULER_GATHER_H */
