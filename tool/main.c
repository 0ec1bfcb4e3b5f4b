/* SPDX-License-Identifier: Apache-2.0 OR MIT */

/*
 * safe-mmap: the command-line face of libsafe-mmap. This file holds what all
 * commands share (the help, usage errors, dispatch); each command lives in a
 * file of its own, and format.c names things for people.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tool.h"

void help(void) {
        printf("Usage: " PROGRAM " COMMAND [OPTIONS] [ARGUMENTS]\n"
               "       " PROGRAM " --help | --version\n"
               "\n"
               "Map files only when they provably cannot change or shrink: check descriptors,\n"
               "and make and show immutable snapshots (sealed memfds) of files.\n"
               "\n"
               "Commands:\n"
               "  check [--verbose] [--digest HEX] [--fd N]... [PATH]...\n"
               "                   Prove that each file or inherited descriptor is a sealed\n"
               "                   memfd or an fs-verity file\n"
               "  cat [--local | --no-fallback] [--require-consistent] [--] PATH...\n"
               "                   Write an immutable snapshot of each file to standard output\n"
               "  snapshot [--local | --no-fallback] [--require-consistent] [--populate] [--] PATH...\n"
               "                   Make a snapshot of each file and show what was verified\n"
               "  status           Show the state of the safe-mmapd daemon\n"
               "\n"
               "Options:\n"
               "  -h, --help       Show this help and exit\n"
               "  -V, --version    Show the version and exit\n"
               "  -v, --verbose    check: also show the seals found on each memfd\n"
               "      --fd N       check: check the inherited descriptor N (repeatable)\n"
               "      --digest [sha256:|sha512:]HEX\n"
               "                   check: require fs-verity files with exactly this digest\n"
               "      --local      cat, snapshot: make the snapshot here, never ask the daemon\n"
               "      --no-fallback\n"
               "                   cat, snapshot: fail rather than make the snapshot here when\n"
               "                   no daemon answers\n"
               "      --require-consistent\n"
               "                   cat, snapshot: only a snapshot proven to be one whole\n"
               "                   version of the file\n"
               "      --populate   snapshot: prefault the whole mapping\n"
               "\n"
               "Environment:\n"
               "  SAFE_MMAP_SOCKET    the daemon's socket (default " SAFE_MMAP_SOCKET_DEFAULT ")\n"
               "  SAFE_MMAP_SIZE_MAX  size limit in bytes of snapshots made without the daemon\n"
               "\n"
               "Exit status: 0 if every file succeeded, 1 if any failed or no daemon answered,\n"
               "2 on a usage error.\n"
               "See safe-mmap(1).\n");
}

_printf_(1, 2)
int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs(PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry '" PROGRAM " --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

/*
 * getopt is told to stay quiet (leading ':') so that its messages do not
 * carry the command name as if it were the program's; this speaks instead.
 */
int option_error(const char *command, int c, char *const argv[]) {
        const char *arg = argv[optind - 1];

        if (c == ':')
                return usage_error("%s: option '%s' requires an argument", command, arg);
        if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2) != 0)
                return usage_error("%s: invalid option '-%c'", command, optopt);
        return usage_error("%s: unrecognized option '%s'", command, arg);
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        static const struct {
                const char *name;
                int (*verb)(int argc, char *argv[]);
        } verbs[] = {
                { "check", verb_check },
                { "cat", verb_cat },
                { "snapshot", verb_snapshot },
                { "status", verb_status },
        };
        int c;

        /* '+': stop at the command; the options after it are the command's. */
        while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 'V':
                        printf(PROGRAM " " PACKAGE_VERSION "\n");
                        return EXIT_SUCCESS;
                default:
                        if (c == ':')
                                return usage_error("option '%s' requires an argument", argv[optind - 1]);
                        if (optopt > 0 && optopt < 0x100 && strncmp(argv[optind - 1], "--", 2) != 0)
                                return usage_error("invalid option '-%c'", optopt);
                        return usage_error("unrecognized option '%s'", argv[optind - 1]);
                }

        if (optind >= argc)
                return usage_error("no command given");

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0)
                        return verbs[i].verb(argc - optind, argv + optind);

        return usage_error("unknown command '%s'", argv[optind]);
}

int main(int argc, char *argv[]) {
        int r;

        /* A closed pipe must surface as EPIPE from write(), not kill us mid-file. */
        signal(SIGPIPE, SIG_IGN);

        r = run(argc, argv);

        /* Reports go through stdio; a full disk or closed stdout must not pass silently. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
                if (errno != EPIPE)
                        fprintf(stderr, PROGRAM ": write error: %s\n", strerror(errno));
                if (r == EXIT_SUCCESS && errno != EPIPE)
                        r = EXIT_FAILURE;
        }
        return r;
}
