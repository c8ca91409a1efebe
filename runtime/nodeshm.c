/* nodeshm.c: see nodeshm.h. */
#include "runtime/nodeshm.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/log.h"
#include "runtime/shmring.h"

#define NAME_MAX_LEN 64
#define MIN_RING (32u << 10) /* holds the largest default batch (16 KiB) */

struct rm_nodeshm {
    unsigned char *base;
    size_t bytes, ring_cap, region;
    int n, me;
    int *local_of; /* per comm rank */
};

/* Fills s->local_of from the node communicator. */
static int map_ranks(struct rm_nodeshm *s, MPI_Comm comm, MPI_Comm node, int size)
{
    MPI_Group g_node, g_comm;
    int *idx = malloc((size_t)s->n * sizeof *idx), *ranks = malloc((size_t)s->n * sizeof *ranks);
    s->local_of = malloc((size_t)size * sizeof *s->local_of);
    if (!idx || !ranks || !s->local_of) {
        free(idx);
        free(ranks);
        return RM_ENOMEM;
    }
    int rc = RM_EMPI;
    if (MPI_Comm_group(node, &g_node) != MPI_SUCCESS)
        goto out;
    if (MPI_Comm_group(comm, &g_comm) == MPI_SUCCESS) {
        for (int i = 0; i < s->n; i++)
            idx[i] = i;
        if (MPI_Group_translate_ranks(g_node, s->n, idx, g_comm, ranks) == MPI_SUCCESS) {
            for (int r = 0; r < size; r++)
                s->local_of[r] = -1;
            rc = 0;
            for (int i = 0; i < s->n; i++) {
                if (ranks[i] < 0 || ranks[i] >= size)
                    rc = RM_EMPI;
                else
                    s->local_of[ranks[i]] = i;
            }
        }
        MPI_Group_free(&g_comm);
    }
    MPI_Group_free(&g_node);
out:
    free(idx);
    free(ranks);
    return rc;
}

/* The node's first rank: creates, sizes and maps a new object; name[0] = 0 on failure. */
static void *create_segment(size_t bytes, char name[NAME_MAX_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    for (int attempt = 0; attempt < 8; attempt++) {
        snprintf(name, NAME_MAX_LEN, "/ringmaster-%u-%d-%lx-%d", (unsigned)getuid(), (int)getpid(),
                 (unsigned long)ts.tv_nsec, attempt);
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            break;
        /* Allocate every page now: tmpfs pages handed out lazily would turn a full /dev/shm
         * into a SIGBUS in the middle of the job, instead of this clean refusal. */
        int err = posix_fallocate(fd, 0, (off_t)bytes);
        void *p =
            err == 0 ? mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
        if (err != 0)
            rm_debug("node shared memory: %zu bytes in /dev/shm: %s", bytes, strerror(err));
        close(fd);
        if (p != MAP_FAILED)
            return p;
        shm_unlink(name);
        break;
    }
    name[0] = '\0';
    return NULL;
}

static void *open_segment(size_t bytes, const char *name)
{
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == bytes)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* Maps the segment on every rank of the node and sets *all_ok to whether all of them did.
 * Every rank of the node takes part in its collectives, usable or not. */
static int attach_all(struct rm_nodeshm *s, MPI_Comm node, bool usable, int *all_ok)
{
    char name[NAME_MAX_LEN] = {0};
    if (s->me == 0 && usable)
        s->base = create_segment(s->bytes, name);
    if (MPI_Bcast(name, NAME_MAX_LEN, MPI_CHAR, 0, node) != MPI_SUCCESS)
        return RM_EMPI;
    name[NAME_MAX_LEN - 1] = '\0';
    if (s->me != 0 && name[0] && usable)
        s->base = open_segment(s->bytes, name);
    int ok = s->base != NULL;
    int rc = MPI_Allreduce(&ok, all_ok, 1, MPI_INT, MPI_MIN, node) == MPI_SUCCESS ? 0 : RM_EMPI;
    if (s->me == 0 && name[0])
        shm_unlink(name); /* every rank has it mapped, or gives up: the name is not needed */
    return rc;
}

/* RINGMASTER_FAULT_NO_SHM=I (tests only): the node's rank with local index I behaves as if it
 * could not map the segment, so that every rank of the node must fall back to MPI together. */
static bool fault_no_shm(int me)
{
    const char *v = getenv("RINGMASTER_FAULT_NO_SHM");
    return v && *v && atoi(v) == me;
}

/* The largest ring, down to MIN_RING, that keeps the node's segment within the cap. */
static size_t fit_ring(size_t want, int n)
{
    size_t cap = MIN_RING;
    while (cap * 2 <= want)
        cap *= 2; /* a power of two */
    size_t pairs = (size_t)n * (size_t)n;
    while (cap > MIN_RING && pairs * rm_shmring_region_bytes(cap) > RM_NODESHM_MAX_BYTES)
        cap /= 2;
    if (want < MIN_RING || pairs * rm_shmring_region_bytes(cap) > RM_NODESHM_MAX_BYTES)
        return 0;
    return cap;
}

int rm_nodeshm_open(MPI_Comm comm, size_t ring_cap, struct rm_nodeshm **out)
{
    *out = NULL;
    int size;
    MPI_Comm node;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS ||
        MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return RM_EMPI;
    struct rm_nodeshm *s = calloc(1, sizeof *s);
    int rc = RM_ENOMEM, all_ok = 0;
    if (!s)
        goto out_node;
    rc = RM_EMPI;
    if (MPI_Comm_size(node, &s->n) != MPI_SUCCESS || MPI_Comm_rank(node, &s->me) != MPI_SUCCESS)
        goto out_free;
    rc = 0;
    s->ring_cap = fit_ring(ring_cap, s->n);
    if (s->n < 2 || s->ring_cap == 0) {
        if (s->n >= 2)
            rm_debug("node shared memory: %d ranks on this node are too many; MPI only", s->n);
        goto out_free;
    }
    s->region = rm_shmring_region_bytes(s->ring_cap);
    s->bytes = (size_t)s->n * (size_t)s->n * s->region;
    int map_rc = map_ranks(s, comm, node, size);
    if ((rc = attach_all(s, node, map_rc == 0 && !fault_no_shm(s->me), &all_ok)) != 0)
        goto out_free;
    if (!all_ok) {
        rm_debug("node shared memory unavailable on some rank of this node; MPI only");
        rc = map_rc == RM_ENOMEM ? RM_ENOMEM : 0;
        goto out_free;
    }
    *out = s;
    s = NULL;
out_free:
    rm_nodeshm_close(s);
out_node:
    MPI_Comm_free(&node);
    return rc;
}

void rm_nodeshm_close(struct rm_nodeshm *s)
{
    if (!s)
        return;
    if (s->base)
        munmap(s->base, s->bytes);
    free(s->local_of);
    free(s);
}

int rm_nodeshm_local(const struct rm_nodeshm *s, int rank)
{
    return s->local_of[rank];
}

int rm_nodeshm_self(const struct rm_nodeshm *s)
{
    return s->me;
}

int rm_nodeshm_count(const struct rm_nodeshm *s)
{
    return s->n;
}

size_t rm_nodeshm_ring_cap(const struct rm_nodeshm *s)
{
    return s->ring_cap;
}

void *rm_nodeshm_ring(const struct rm_nodeshm *s, int to, int from)
{
    return s->base + ((size_t)to * (size_t)s->n + (size_t)from) * s->region;
}
