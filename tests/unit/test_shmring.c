/* test_shmring.c: the one-writer, one-reader ring of shmring.h: framing, wrap-around, a full
 * ring, zeroing of consumed bytes, a corrupt header, and a writer and a reader racing in two
 * threads. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/shmring.h"

#define CAP 512u

static _Alignas(64) unsigned char region[RM_SHMRING_CTL + 4 * CAP];

/* A writer and a reader over the zeroed region, cap data bytes. */
static void pair(struct rm_shmring *w, struct rm_shmring *r, size_t cap)
{
    memset(region, 0, sizeof region);
    CU_ASSERT_FATAL(rm_shmring_attach(w, region, cap) == 0);
    CU_ASSERT_FATAL(rm_shmring_attach(r, region, cap) == 0);
}

static void test_attach_checks(void)
{
    struct rm_shmring v;
    CU_ASSERT(rm_shmring_attach(&v, region, 768) == RM_EINVAL);     /* not a power of two */
    CU_ASSERT(rm_shmring_attach(&v, region, 256) == RM_EINVAL);     /* below the minimum */
    CU_ASSERT(rm_shmring_attach(&v, region + 4, CAP) == RM_EINVAL); /* misaligned */
    CU_ASSERT(rm_shmring_attach(&v, region, CAP) == 0);
}

static void test_round_trip(void)
{
    struct rm_shmring w, r;
    pair(&w, &r, CAP);
    const void *d;
    size_t len;
    CU_ASSERT(rm_shmring_peek(&r, &d, &len) == 0); /* empty */
    const size_t sizes[] = {0, 1, 7, 8, 9, 100};
    unsigned char buf[128];
    for (size_t k = 0; k < 6; k++) {
        memset(buf, (int)k + 1, sizes[k]);
        CU_ASSERT(rm_shmring_write(&w, buf, sizes[k]) == 0);
    }
    for (size_t k = 0; k < 6; k++) {
        CU_ASSERT_FATAL(rm_shmring_peek(&r, &d, &len) == 1);
        CU_ASSERT(len == sizes[k]);
        for (size_t i = 0; i < len; i++)
            CU_ASSERT(((const unsigned char *)d)[i] == k + 1);
        rm_shmring_consume(&r, len);
    }
    CU_ASSERT(rm_shmring_peek(&r, &d, &len) == 0);
}

static void test_full_ring(void)
{
    struct rm_shmring w, r;
    pair(&w, &r, CAP);
    unsigned char buf[CAP] = {0};
    CU_ASSERT(rm_shmring_write(&w, buf, CAP - 7) == RM_EMSGSIZE); /* never fits */
    int n = 0;
    while (rm_shmring_write(&w, buf, 56) == 0) /* 64 bytes each with the header */
        n++;
    CU_ASSERT(n == CAP / 64);
    CU_ASSERT(rm_shmring_write(&w, buf, 0) == RM_EBUSY); /* not even a header fits */
    const void *d;
    size_t len;
    CU_ASSERT_FATAL(rm_shmring_peek(&r, &d, &len) == 1);
    rm_shmring_consume(&r, len);
    CU_ASSERT(rm_shmring_write(&w, buf, 56) == 0); /* the freed room is seen */
    CU_ASSERT(rm_shmring_write(&w, buf, 0) == RM_EBUSY);
}

/* Records of every length from 0 to 200 go round a 512-byte ring many times, each checked;
 * when the ring is empty again, every data byte is zero. */
static void test_wrap_and_zeroing(void)
{
    struct rm_shmring w, r;
    pair(&w, &r, CAP);
    unsigned char buf[256];
    for (unsigned lap = 0; lap < 40; lap++) {
        for (size_t n = 0; n <= 200; n += 13) {
            for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)(n + i + lap);
            CU_ASSERT_FATAL(rm_shmring_write(&w, buf, n) == 0);
            const void *d;
            size_t len;
            CU_ASSERT_FATAL(rm_shmring_peek(&r, &d, &len) == 1);
            CU_ASSERT_FATAL(len == n);
            CU_ASSERT(memcmp(d, buf, n) == 0);
            rm_shmring_consume(&r, len);
        }
    }
    CU_ASSERT(w.pos == r.pos && w.pos > 10 * CAP);
    for (size_t i = 0; i < CAP; i++)
        CU_ASSERT_FATAL(region[RM_SHMRING_CTL + i] == 0);
}

/* A header with the expected number and a length running past the end is refused; a header
 * with another number is not a record at all. */
static void test_corrupt_header(void)
{
    struct rm_shmring w, r;
    pair(&w, &r, CAP);
    const void *d;
    size_t len;
    _Atomic uint64_t *h = (_Atomic uint64_t *)(void *)(region + RM_SHMRING_CTL);
    atomic_store(h, (uint64_t)2 << 32 | 8); /* record 2 where record 1 is expected */
    CU_ASSERT(rm_shmring_peek(&r, &d, &len) == 0);
    atomic_store(h, (uint64_t)1 << 32 | (CAP + 64)); /* longer than the ring */
    CU_ASSERT(rm_shmring_peek(&r, &d, &len) == RM_EPROTO);
}

#define RACE_RECORDS 300000

struct race {
    struct rm_shmring w, r;
    atomic_int failures;
};

/* Writes RACE_RECORDS records, record k of (k % 97) bytes, each byte (k + i) & 0xff. */
static void *race_writer(void *arg)
{
    struct race *x = arg;
    unsigned char buf[128];
    for (unsigned k = 0; k < RACE_RECORDS;) {
        size_t n = k % 97;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(k + i);
        int rc = rm_shmring_write(&x->w, buf, n);
        if (rc == 0)
            k++;
        else if (rc != RM_EBUSY)
            atomic_fetch_add(&x->failures, 1);
    }
    return NULL;
}

static void test_two_threads(void)
{
    static struct race x;
    memset(region, 0, sizeof region);
    CU_ASSERT_FATAL(rm_shmring_attach(&x.w, region, 1024) == 0);
    CU_ASSERT_FATAL(rm_shmring_attach(&x.r, region, 1024) == 0);
    atomic_store(&x.failures, 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, race_writer, &x) == 0);
    int bad = 0;
    for (unsigned k = 0; k < RACE_RECORDS;) {
        const void *d;
        size_t len;
        int rc = rm_shmring_peek(&x.r, &d, &len);
        if (rc == 0)
            continue;
        if (rc != 1 || len != k % 97) {
            bad++;
            break;
        }
        for (size_t i = 0; i < len; i++)
            bad += ((const unsigned char *)d)[i] != (unsigned char)(k + i);
        rm_shmring_consume(&x.r, len);
        k++;
    }
    pthread_join(th, NULL);
    CU_ASSERT(bad == 0);
    CU_ASSERT(atomic_load(&x.failures) == 0);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("shmring", NULL, NULL);
    CU_add_test(s, "attach checks its arguments", test_attach_checks);
    CU_add_test(s, "records come out as they went in", test_round_trip);
    CU_add_test(s, "a full ring refuses, then takes again", test_full_ring);
    CU_add_test(s, "wrap-around, and consumed bytes are zeroed", test_wrap_and_zeroing);
    CU_add_test(s, "a corrupt header is refused", test_corrupt_header);
    CU_add_test(s, "a writer and a reader in two threads", test_two_threads);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
