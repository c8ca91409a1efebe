/* epochcomm.c: see epochcomm.h. */
#include "runtime/epochcomm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/log.h"

struct rm_epochcomm {
    MPI_Comm base;
    pthread_mutex_t mu;
    uint64_t requested, built;
    MPI_Comm current;
    int current_size;
    int refs; /* the object plus builder threads still running */
};

struct build {
    struct rm_epochcomm *ec;
    uint64_t epoch;
    int n;
    int ranks[]; /* n live ranks, ascending */
};

static void release(struct rm_epochcomm *ec)
{
    pthread_mutex_lock(&ec->mu);
    bool last = --ec->refs == 0;
    pthread_mutex_unlock(&ec->mu);
    if (last) {
        pthread_mutex_destroy(&ec->mu);
        free(ec);
    }
}

static void *builder(void *arg)
{
    struct build *b = arg;
    struct rm_epochcomm *ec = b->ec;
    MPI_Group world, group;
    MPI_Comm comm = MPI_COMM_NULL;
    int tag = (int)(b->epoch % 32000);
    int rc = MPI_Comm_group(ec->base, &world);
    if (rc == MPI_SUCCESS) {
        if ((rc = MPI_Group_incl(world, b->n, b->ranks, &group)) == MPI_SUCCESS) {
            rc = MPI_Comm_create_group(ec->base, group, tag, &comm);
            MPI_Group_free(&group);
        }
        MPI_Group_free(&world);
    }
    pthread_mutex_lock(&ec->mu);
    bool newest = rc == MPI_SUCCESS && b->epoch > ec->built;
    if (newest) {
        ec->built = b->epoch;
        ec->current = comm;
        ec->current_size = b->n;
    }
    pthread_mutex_unlock(&ec->mu);
    if (newest)
        rm_info("epoch %llu communicator ready: %d ranks", (unsigned long long)b->epoch, b->n);
    else if (rc != MPI_SUCCESS)
        rm_warn("building the epoch %llu communicator failed", (unsigned long long)b->epoch);
    free(b);
    release(ec);
    return NULL;
}

int rm_epochcomm_create(MPI_Comm base, struct rm_epochcomm **out)
{
    struct rm_epochcomm *ec = calloc(1, sizeof *ec);
    if (!ec)
        return RM_ENOMEM;
    if (pthread_mutex_init(&ec->mu, NULL) != 0) {
        free(ec);
        return RM_EIO;
    }
    ec->base = base;
    ec->current = MPI_COMM_NULL;
    ec->refs = 1;
    *out = ec;
    return 0;
}

int rm_epochcomm_request(struct rm_epochcomm *ec, uint64_t epoch, const uint8_t *live,
                         int size)
{
    if (epoch <= ec->requested)
        return 0;
    struct build *b = malloc(sizeof *b + (size_t)size * sizeof(int));
    if (!b)
        return RM_ENOMEM;
    b->ec = ec;
    b->epoch = epoch;
    b->n = 0;
    for (int r = 0; r < size; r++)
        if (live[r / 8] >> (r % 8) & 1)
            b->ranks[b->n++] = r;
    ec->requested = epoch;
    pthread_mutex_lock(&ec->mu);
    ec->refs++;
    pthread_mutex_unlock(&ec->mu);
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, builder, b);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        free(b);
        release(ec);
        return RM_EIO;
    }
    return 0;
}

MPI_Comm rm_epochcomm_current(struct rm_epochcomm *ec, uint64_t *epoch, int *size)
{
    pthread_mutex_lock(&ec->mu);
    MPI_Comm c = ec->current;
    if (epoch)
        *epoch = ec->built;
    if (size)
        *size = ec->current_size;
    pthread_mutex_unlock(&ec->mu);
    return c;
}

void rm_epochcomm_destroy(struct rm_epochcomm *ec)
{
    if (ec)
        release(ec);
}
