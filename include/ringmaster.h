/*
 * ringmaster.h: the one header that user programs include.
 *
 * Conventions (see shared/STYLE.md):
 *  - Functions return 0 on success or a negative RM_E* code; rm_strerror() names it.
 *  - Public names are rm_<module>_<verb>; nothing else here is stable.
 *  - Each function documents ownership of its pointer arguments and the thread that may call it.
 */
#ifndef RINGMASTER_H
#define RINGMASTER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. All are negative so that "rc < 0" means failure everywhere. */
enum rm_error {
    RM_OK = 0,
    RM_ENOMEM = -1,    /* allocation failed */
    RM_EINVAL = -2,    /* invalid argument or malformed input */
    RM_EUSAGE = -3,    /* bad command line */
    RM_EIO = -4,       /* operating-system I/O error; errno says more */
    RM_EMPI = -5,      /* an MPI call failed */
    RM_EPROTO = -6,    /* malformed, truncated or unknown message */
    RM_EMSGSIZE = -7,  /* message larger than the configured maximum */
    RM_EDEAD = -8,     /* the peer is known to be dead */
    RM_ESTALE = -9,    /* stale term or epoch; the message was fenced */
    RM_EHWLOC = -10,   /* hwloc failed to load the topology or to bind */
    RM_ENOENT = -11,   /* no such file, kernel or entry */
    RM_EBUSY = -12,    /* resource busy or queue full; try again later */
    RM_ESHUTDOWN = -13, /* the runtime is shutting down */
    RM_ECORRUPT = -14, /* checksum mismatch or damaged data */
    RM_EJOB = -15,     /* the job failed (quorum lost, task failed too often) */
};

/* Returns a static, human-readable name for an RM_E* code. This function can't fail. */
const char *rm_strerror(int code);

/* Returns the library version as "MAJOR.MINOR.PATCH". This function can't fail. */
const char *rm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RINGMASTER_H */
