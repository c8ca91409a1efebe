/* error.c: names of the RM_E* codes. */
#include "ringmaster.h"
#include "rm_version.h"

const char *rm_strerror(int code)
{
    switch (code) {
    case RM_OK: return "success";
    case RM_ENOMEM: return "out of memory";
    case RM_EINVAL: return "invalid argument";
    case RM_EUSAGE: return "bad usage";
    case RM_EIO: return "I/O error";
    case RM_EMPI: return "MPI error";
    case RM_EPROTO: return "malformed message";
    case RM_EMSGSIZE: return "message too large";
    case RM_EDEAD: return "peer is dead";
    case RM_ESTALE: return "stale term or epoch";
    case RM_EHWLOC: return "hwloc error";
    case RM_ENOENT: return "not found";
    case RM_EBUSY: return "busy";
    case RM_ESHUTDOWN: return "shutting down";
    case RM_ECORRUPT: return "corrupt data";
    case RM_EJOB: return "job failed";
    default: return "unknown error";
    }
}

const char *rm_version(void)
{
    return RM_VERSION_STRING;
}
