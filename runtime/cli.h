/*
 * cli.h: the `ringmaster` command line (see shared/INTERFACE.md and the README).
 * Only this module and main() decide exit statuses; library code returns errors.
 */
#ifndef RM_CLI_H
#define RM_CLI_H

/* Exit statuses of the command line. */
enum { RM_EXIT_OK = 0, RM_EXIT_USAGE = 2, RM_EXIT_FAILED = 3 };

/* Runs the command line. argc/argv: borrowed from main. Returns the process exit status.
 * Main thread; collective over MPI_COMM_WORLD for `info` and `run`. */
int rm_cli_main(int argc, char **argv);

#endif /* RM_CLI_H */
