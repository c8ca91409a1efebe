/* mailbox.c: see mailbox.h. */
#include "runtime/mailbox.h"

#include <stdlib.h>
#include <string.h>

#include "ringmaster.h"

int rm_mailbox_init(struct rm_mailbox *mb)
{
    *mb = (struct rm_mailbox){0};
    if (pthread_mutex_init(&mb->mu, NULL) != 0)
        return RM_ENOMEM;
    if (pthread_cond_init(&mb->cv, NULL) != 0) {
        pthread_mutex_destroy(&mb->mu);
        return RM_ENOMEM;
    }
    return 0;
}

void rm_mailbox_close(struct rm_mailbox *mb)
{
    while (mb->head) {
        struct rm_mail *m = mb->head;
        mb->head = m->next;
        free(m);
    }
    pthread_cond_destroy(&mb->cv);
    pthread_mutex_destroy(&mb->mu);
}

int rm_mailbox_put(struct rm_mailbox *mb, int type, const void *data, size_t len)
{
    struct rm_mail *m = malloc(sizeof *m + len);
    if (!m)
        return RM_ENOMEM;
    m->next = NULL;
    m->type = type;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    pthread_mutex_lock(&mb->mu);
    if (mb->shut) {
        pthread_mutex_unlock(&mb->mu);
        free(m);
        return RM_ESHUTDOWN;
    }
    if (mb->tail)
        mb->tail->next = m;
    else
        mb->head = m;
    mb->tail = m;
    pthread_cond_signal(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
    return 0;
}

int rm_mailbox_get(struct rm_mailbox *mb, struct rm_mail **out)
{
    pthread_mutex_lock(&mb->mu);
    while (!mb->head && !mb->shut)
        pthread_cond_wait(&mb->cv, &mb->mu);
    struct rm_mail *m = mb->head;
    if (m) {
        mb->head = m->next;
        if (!mb->head)
            mb->tail = NULL;
    }
    pthread_mutex_unlock(&mb->mu);
    if (!m)
        return RM_ESHUTDOWN;
    *out = m;
    return 0;
}

void rm_mailbox_shut(struct rm_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    mb->shut = true;
    pthread_cond_broadcast(&mb->cv);
    pthread_mutex_unlock(&mb->mu);
}
