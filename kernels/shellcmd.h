/*
 * shellcmd.h: runs one shell command for the `tasks` kernel (a bag-of-commands farm that runs
 * inside an MPI rank, which is multi-threaded).
 *
 * The command runs as `/bin/sh -c command` in its own process group, with stdin from /dev/null
 * and stdout and stderr sharing one output file, so the file holds the combined output in the
 * order it was written. The command inherits the environment, working directory, umask and CPU
 * binding of the rank, but none of its other file descriptors, blocked signals or ignored
 * signals. If the rank dies, even by SIGKILL, the kernel kills the shell (PR_SET_PDEATHSIG);
 * only the shell, not what it started, so a command line should `exec` its last program.
 *
 * Stateless: any thread may call rm_shellcmd_run, several at once. No MPI. Linux only.
 * Nothing else in the process may reap its children (SIGCHLD set to SIG_IGN, or waitpid(-1)
 * in another thread), or the call cannot see its command end and returns RM_EIO.
 */
#ifndef RM_SHELLCMD_H
#define RM_SHELLCMD_H

#include <stdbool.h>
#include <stdint.h>

struct rm_shellcmd_result {
    int status;            /* exit code 0..255, or 128+signal if killed, as a shell reports */
    int signal;            /* the signal that killed the shell, or 0 */
    double seconds;        /* wall time from start to end (CLOCK_MONOTONIC) */
    uint64_t output_bytes; /* size of the output file once the command has ended */
    bool timed_out;        /* killed at the time limit; then status 137 and signal 9 */
};

/*
 * Runs `/bin/sh -c command` and waits for it to end. Blocks the calling thread, which must not
 * exit (pthread_exit) meanwhile: the death signal follows the thread that started the command.
 *
 * command:     borrowed; any shell text.
 * output_path: borrowed; created or truncated (mode 0644 before umask) to receive stdout and
 *              stderr. The caller passes a temporary name and renames the file afterwards.
 * timeout_s:   0 for no limit. Otherwise, after timeout_s seconds the whole process group is
 *              killed with SIGKILL and res->timed_out is set.
 * res:         caller's; written on success only.
 *
 * When the shell ends, whatever it left running in its process group (`cmd &`) is killed too,
 * so that nothing writes to the output file after the call returns. Processes that left the
 * group (setsid, setpgid) are not tracked. A shell that cannot be started still counts as run:
 * it reports status 127 and a line "ringmaster: cannot run /bin/sh: <reason>" in the output.
 *
 * Returns 0 when the command ran to its end (whatever its status), or:
 *  RM_EINVAL  a NULL argument;
 *  RM_EIO     the output file or /dev/null could not be opened (errno says why; the command
 *             was not run), or waiting for the command, or sizing its output, failed;
 *  RM_ENOMEM  out of memory, or fork failed with ENOMEM;
 *  RM_EBUSY   fork failed with EAGAIN (process limit); try again later.
 * If the command was not started the output file is removed; after RM_EIO from a later step it
 * is left for the caller to remove.
 */
int rm_shellcmd_run(const char *command, const char *output_path, uint32_t timeout_s,
                    struct rm_shellcmd_result *res);

#endif /* RM_SHELLCMD_H */
