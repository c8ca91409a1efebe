/* main.c: the ringmaster program. */
#include "runtime/cli.h"

int main(int argc, char **argv)
{
    return rm_cli_main(argc, argv);
}
