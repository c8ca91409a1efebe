/*
 * wordcount.c: counting words with the Ringmaster C API, in one short file.
 *
 *   mpirun --enable-recovery -np 4 ./wordcount --input books/ --output counts.tsv
 *
 * A word is a maximal run of ASCII letters, folded to lower case. The output has one
 * `word<TAB>count` line per word, sorted by word.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <ringmaster.h>

/* Emits (word, "1") for every word of the split. */
static int map(void *user, const char *text, size_t len, struct rm_emitter *out)
{
    (void)user;
    char word[256];
    size_t n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && isalpha((unsigned char)text[i]) && (unsigned char)text[i] < 128) {
            if (n < sizeof word)
                word[n++] = (char)tolower((unsigned char)text[i]);
            continue;
        }
        if (n > 0) {
            int rc = rm_emit(out, word, n, "1", 1);
            if (rc != 0)
                return rc;
        }
        n = 0;
    }
    return 0;
}

/* Sums the counts of one word. Used as the combiner too: its output is also a count. */
static int sum(void *user, const char *key, size_t klen, struct rm_values *values,
               struct rm_emitter *out)
{
    (void)user;
    uint64_t total = 0;
    const char *v;
    size_t vlen;
    while (rm_values_next(values, &v, &vlen)) {
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)(vlen < 31 ? vlen : 31), v);
        total += strtoull(num, NULL, 10);
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64, total);
    return rm_emit(out, key, klen, text, (size_t)n);
}

int main(int argc, char **argv)
{
    struct rm_job job = {.name = "wordcount-example", .map = map, .combine = sum, .reduce = sum};
    return rm_job_main(argc, argv, &job);
}
