/* stagestate.c: see stagestate.h. */
#include "kernels/stagestate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"
#include "runtime/log.h"

int rm_stagestate_init(struct rm_stagestate *s, uint32_t stages)
{
    memset(s, 0, sizeof *s);
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return RM_ENOMEM;
    s->stages = stages;
    s->data = calloc(stages ? stages : 1, sizeof *s->data);
    s->len = calloc(stages ? stages : 1, sizeof *s->len);
    return s->data && s->len ? 0 : RM_ENOMEM;
}

void rm_stagestate_close(struct rm_stagestate *s)
{
    if (!s->data && !s->len && s->stages == 0)
        return;
    for (uint32_t i = 0; s->data && i < s->stages; i++)
        free(s->data[i]);
    free(s->data);
    free(s->len);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

void rm_stagestate_set(struct rm_stagestate *s, uint32_t stage, const void *data, size_t len)
{
    if (stage >= s->stages)
        return;
    unsigned char *c = malloc(len ? len : 1);
    if (!c) {
        rm_warn("out of memory keeping stage %u's shared state", stage);
        return;
    }
    if (len)
        memcpy(c, data, len);
    pthread_mutex_lock(&s->mu);
    free(s->data[stage]);
    s->data[stage] = c;
    s->len[stage] = len;
    pthread_mutex_unlock(&s->mu);
}

int rm_stagestate_get(struct rm_stagestate *s, uint32_t stage, void *out, size_t len, char *err,
                      size_t cap)
{
    int rc = RM_ENOENT;
    pthread_mutex_lock(&s->mu);
    if (stage < s->stages && s->data[stage]) {
        rc = s->len[stage] == len ? 0 : RM_ECORRUPT;
        if (rc == 0 && len)
            memcpy(out, s->data[stage], len);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == RM_ENOENT)
        snprintf(err, cap, "stage %u's shared state has not reached this rank", stage);
    else if (rc == RM_ECORRUPT)
        snprintf(err, cap, "stage %u's shared state has the wrong size", stage);
    return rc;
}
