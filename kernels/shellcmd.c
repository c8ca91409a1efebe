/* shellcmd.c: see shellcmd.h. */
#include "kernels/shellcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringmaster.h"

#define SHELL_PATH "/bin/sh"
#define POLL_FIRST_NS 1000000L /* 1 ms, doubling up to POLL_MAX_NS */
#define POLL_MAX_NS 50000000L  /* 50 ms */

/* What the child needs; everything is prepared before fork so the child only makes syscalls. */
struct child_args {
    int devnull;       /* >= 3, close-on-exec */
    int outfd;         /* >= 3, close-on-exec */
    pid_t parent;      /* to detect that the rank died before PR_SET_PDEATHSIG took effect */
    long max_fd;       /* fallback bound for closing inherited descriptors */
    char *const *argv; /* sh -c command */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* can't fail for CLOCK_MONOTONIC */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the child: only async-signal-safe calls from fork to execve ---------------------------- */

/* Fixed texts for the errors exec and the set-up steps can meet: strerror is not
 * async-signal-safe. */
static const struct {
    int err;
    const char *text;
} child_errtexts[] = {
    {ENOENT, "No such file or directory"},
    {EACCES, "Permission denied"},
    {E2BIG, "Argument list too long"},
    {ENOMEM, "Cannot allocate memory"},
    {ENOEXEC, "Exec format error"},
    {ETXTBSY, "Text file busy"},
    {ELOOP, "Too many levels of symbolic links"},
    {EIO, "Input/output error"},
    {EMFILE, "Too many open files"},
    {ENFILE, "Too many open files in system"},
    {EPERM, "Operation not permitted"},
    {EINVAL, "Invalid argument"},
    {EBADF, "Bad file descriptor"},
};

/* Returns the fixed text for err, or NULL. */
static const char *child_errtext(int err)
{
    for (size_t i = 0; i < sizeof child_errtexts / sizeof child_errtexts[0]; i++)
        if (child_errtexts[i].err == err)
            return child_errtexts[i].text;
    return NULL;
}

static void child_write(int fd, const char *s)
{
    size_t len = 0;
    while (s[len])
        len++;
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report to */
        s += n;
        len -= (size_t)n;
    }
}

/* Writes "ringmaster: <what>: <reason>\n" to fd and exits 127, as a shell does for a command
 * it cannot run. */
static _Noreturn void child_fail(int fd, const char *what, int err)
{
    char num[32] = "error ";
    const char *text = child_errtext(err);
    if (!text) {
        char digits[16];
        int n = 0;
        unsigned v = err < 0 ? 0u : (unsigned)err;
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v && n < (int)sizeof digits);
        int at = 6; /* after "error " */
        while (n > 0)
            num[at++] = digits[--n];
        num[at] = '\0';
        text = num;
    }
    child_write(fd, "ringmaster: ");
    child_write(fd, what);
    child_write(fd, ": ");
    child_write(fd, text);
    child_write(fd, "\n");
    _exit(127);
}

/* Closes every descriptor from 3 up: an inherited MPI socket would keep a dead rank's
 * connection open and delay its peers' failure detection. */
static void child_close_from_3(long max_fd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    for (long fd = 3; fd < max_fd; fd++)
        close((int)fd);
}

/* Default dispositions, then an empty mask: a SIGPIPE ignored or a SIGTERM blocked in some
 * rank thread must not stay so in the command. The parent blocked everything before fork, so
 * none of its handlers can run here first. */
static void child_reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for the C library's own signals (32 and 33
                                         * with glibc): they keep whatever the rank
                                         * inherited, which commands never rely on */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static _Noreturn void child_exec(const struct child_args *a)
{
    if (setpgid(0, 0) != 0)
        child_fail(a->outfd, "setpgid", errno);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail(a->outfd, "prctl", errno);
    if (getppid() != a->parent)
        _exit(127); /* the rank died before the death signal was armed */
    if (dup2(a->devnull, STDIN_FILENO) < 0 || dup2(a->outfd, STDOUT_FILENO) < 0 ||
        dup2(a->outfd, STDERR_FILENO) < 0)
        child_fail(a->outfd, "dup2", errno);
    child_close_from_3(a->max_fd);
    child_reset_signals();
    execve(SHELL_PATH, a->argv, environ);
    child_fail(STDOUT_FILENO, "cannot run " SHELL_PATH, errno);
}

/* ---- the parent ---------------------------------------------------------------------------- */

/* open(2) returning a descriptor >= 3, so that the child's dup2 onto 0..2 never meets its own
 * source. Returns the descriptor, or -1 with errno set. */
static int open_high(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int saved = errno;
    close(fd);
    errno = saved;
    return high;
}

static int fork_errno_to_rm(int err)
{
    if (err == EAGAIN)
        return RM_EBUSY;
    if (err == ENOMEM)
        return RM_ENOMEM;
    return RM_EIO;
}

/* Forks the child with every signal blocked. Returns 0 with *pid set, or an RM_E* code. */
static int spawn(const struct child_args *a, pid_t *pid)
{
    sigset_t all, old;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
        return RM_EIO;
    pid_t p = fork();
    if (p == 0)
        child_exec(a);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL); /* restores what it just returned: can't fail */
    if (p < 0)
        return fork_errno_to_rm(err);
    /* Also from here, so that a kill of the group cannot come before the child's own setpgid.
     * Its only possible failure, EACCES, means the child has exec'd and so did it itself. */
    (void)setpgid(p, p);
    *pid = p;
    return 0;
}

/* Waits for pid to end without reaping it, so that its pid (the group id) cannot be reused
 * before the group is killed. Returns 1 once ended, 0 if still running (only with WNOHANG),
 * or RM_EIO if it cannot be waited for. */
static int wait_ended(pid_t pid, int flags)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | flags) == 0)
            return si.si_pid == pid ? 1 : 0;
        if (errno != EINTR)
            return RM_EIO;
    }
}

static void sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    nanosleep(&ts, NULL); /* EINTR just means an earlier look */
}

/* Waits until pid ends or the deadline passes. Returns 0 (setting *timed_out) or RM_EIO. */
static int wait_until(pid_t pid, int64_t deadline_ns, bool *timed_out)
{
    long delay = POLL_FIRST_NS;
    for (;;) {
        int rc = wait_ended(pid, WNOHANG);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        int64_t left = deadline_ns - now_ns();
        if (left <= 0) {
            *timed_out = true;
            return 0;
        }
        sleep_ns(left < delay ? (long)left : delay);
        delay = delay * 2 > POLL_MAX_NS ? POLL_MAX_NS : delay * 2;
    }
}

/* Kills pid's process group. pid is not yet reaped, so the group id is still ours. */
static void kill_group(pid_t pid)
{
    if (kill(-pid, SIGKILL) != 0)
        kill(pid, SIGKILL); /* ESRCH: only the leader is left, as a zombie; harmless */
}

/* Reaps pid into *wstatus. Returns 0 or RM_EIO. */
static int reap(pid_t pid, int *wstatus)
{
    while (waitpid(pid, wstatus, 0) < 0) {
        if (errno != EINTR)
            return RM_EIO;
    }
    return 0;
}

static void decode_status(int ws, struct rm_shellcmd_result *r)
{
    if (WIFSIGNALED(ws)) {
        r->signal = WTERMSIG(ws);
        r->status = 128 + r->signal;
    } else {
        r->signal = 0;
        r->status = WEXITSTATUS(ws);
    }
}

/* Waits for the started command, kills what is left of its group and reaps it. */
static int finish(pid_t pid, uint32_t timeout_s, int64_t start, struct rm_shellcmd_result *r)
{
    int rc = timeout_s ? wait_until(pid, start + (int64_t)timeout_s * 1000000000, &r->timed_out)
                       : wait_ended(pid, 0);
    if (rc < 0)
        return rc; /* someone else reaped it: its pid may already be reused, so kill nothing */
    kill_group(pid);
    int ws;
    rc = reap(pid, &ws);
    r->seconds = (double)(now_ns() - start) / 1e9;
    if (rc < 0)
        return rc;
    if (r->timed_out) {
        r->signal = SIGKILL;
        r->status = 128 + SIGKILL;
    } else {
        decode_status(ws, r);
    }
    return 0;
}

static int output_size(int fd, uint64_t *bytes)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return RM_EIO;
    *bytes = (uint64_t)st.st_size;
    return 0;
}

/* Opens /dev/null and then the output file into a. Returns 0, or RM_EIO with errno set and
 * nothing left open. */
static int open_files(struct child_args *a, const char *output_path)
{
    a->devnull = open_high("/dev/null", O_RDONLY, 0);
    if (a->devnull < 0)
        return RM_EIO;
    a->outfd = open_high(output_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (a->outfd < 0) {
        int saved = errno;
        close(a->devnull);
        errno = saved;
        return RM_EIO;
    }
    return 0;
}

/* Runs the command with a's files open; closes them. */
static int run_open(struct child_args *a, const char *output_path, uint32_t timeout_s,
                    struct rm_shellcmd_result *r)
{
    int64_t start = now_ns();
    pid_t pid;
    int rc = spawn(a, &pid);
    if (rc < 0) {
        int saved = errno;
        unlink(output_path); /* the command never ran: leave nothing behind */
        errno = saved;
    } else {
        rc = finish(pid, timeout_s, start, r);
        if (rc == 0)
            rc = output_size(a->outfd, &r->output_bytes);
    }
    if (close(a->outfd) != 0 && rc == 0)
        rc = RM_EIO;   /* a deferred write error (NFS, full disk): the output is not whole */
    close(a->devnull); /* read-only: nothing to lose */
    return rc;
}

int rm_shellcmd_run(const char *command, const char *output_path, uint32_t timeout_s,
                    struct rm_shellcmd_result *res)
{
    if (!command || !output_path || !res)
        return RM_EINVAL;
    char *cmd = strdup(command); /* execve wants char *, and command is const */
    if (!cmd)
        return RM_ENOMEM;
    char arg0[] = "sh", arg1[] = "-c";
    char *const argv[] = {arg0, arg1, cmd, NULL};
    long max_fd = sysconf(_SC_OPEN_MAX);
    struct child_args a = {.parent = getpid(), .max_fd = max_fd > 0 ? max_fd : 1024, .argv = argv};
    struct rm_shellcmd_result r = {0};
    int rc = open_files(&a, output_path);
    if (rc == 0)
        rc = run_open(&a, output_path, timeout_s, &r);
    int saved = errno;
    free(cmd);
    errno = saved;
    if (rc == 0)
        *res = r;
    return rc;
}
