/*
 * mailbox.h: a blocking, thread-safe queue of byte messages, used by the control thread to hand
 * work to the worker thread. Caller-allocated: rm_mailbox_init / rm_mailbox_close.
 */
#ifndef RM_MAILBOX_H
#define RM_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct rm_mail {
    struct rm_mail *next;
    int type;
    size_t len;
    unsigned char data[]; /* len bytes */
};

struct rm_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rm_mail *head, *tail;
    bool shut;
};

/* Returns 0 or RM_ENOMEM. */
int rm_mailbox_init(struct rm_mailbox *mb);

/* Frees queued mail. No thread may be using mb. */
void rm_mailbox_close(struct rm_mailbox *mb);

/* Copies len bytes of data into a new mail of the given type and queues it. Any thread.
 * Returns 0, RM_ENOMEM, or RM_ESHUTDOWN after rm_mailbox_shut. */
int rm_mailbox_put(struct rm_mailbox *mb, int type, const void *data, size_t len);

/* Waits for the next mail. On success *out is the caller's, freed with free().
 * Returns 0, or RM_ESHUTDOWN once the mailbox is shut and empty. Any thread. */
int rm_mailbox_get(struct rm_mailbox *mb, struct rm_mail **out);

/* Wakes every waiter; later puts fail, gets drain what is left. Any thread. Can't fail. */
void rm_mailbox_shut(struct rm_mailbox *mb);

#endif /* RM_MAILBOX_H */
