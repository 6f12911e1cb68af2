/* main.c: the coffer command: dispatches subcommands. Thin by design —
 * every real behaviour lives in a module. */
#include <stdio.h>
#include <string.h>

#include "cf.h"

#define COFFER_VERSION "0.1.0"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: coffer <command> [options]\n"
            "commands:\n"
            "  serve [--config FILE] [--data DIR] [--listen ADDR:PORT]\n"
            "        [--console-listen ADDR:PORT]\n"
            "  version\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("coffer %s\n", COFFER_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    fprintf(stderr, "coffer: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
