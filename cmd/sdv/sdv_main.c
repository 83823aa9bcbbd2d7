/*
 * sdv_main.c - the sdv program: dispatches to one subcommand family per file.
 */
#include <stdio.h>
#include <string.h>

#include "sdv_cmds.h"

static void usage(FILE *f)
{
    fputs("usage: sdv COMMAND [ARGS...]\n"
          "\n"
          "commands:\n"
          "  keygen       create a signing key pair (PEM files)\n"
          "  repo         build, sign and publish a TUF repository (sdv repo help)\n"
          "  tuf-client   refresh trusted metadata and download targets (sdv tuf-client --help)\n"
          "  vehicle      register, show and list vehicles on sdv-server (sdv vehicle help)\n"
          "  assign       assign an image to vehicles' ECUs on sdv-server (sdv assign --help)\n"
          "  delta        make, apply and inspect binary delta patches (sdv delta help)\n"
          "  token        mint and check sdv-broker access tokens (sdv token help)\n"
          "  slot         A/B slots: status, install, boot verdict, log (sdv slot help)\n"
          "  signal       get, set, subscribe and provide vehicle signals on sdv-broker\n"
          "               (sdv signal help)\n"
          "  app          run a third-party app sandboxed, with a token for its manifest's\n"
          "               scopes and only its broker connection (sdv app help)\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return sdv_cmd_keygen(argc - 1, argv + 1);
    if (strcmp(argv[1], "repo") == 0)
        return sdv_cmd_repo(argc - 1, argv + 1);
    if (strcmp(argv[1], "tuf-client") == 0)
        return sdv_cmd_tuf_client(argc - 1, argv + 1);
    if (strcmp(argv[1], "vehicle") == 0)
        return sdv_cmd_vehicle(argc - 1, argv + 1);
    if (strcmp(argv[1], "assign") == 0)
        return sdv_cmd_assign(argc - 1, argv + 1);
    if (strcmp(argv[1], "delta") == 0)
        return sdv_cmd_delta(argc - 1, argv + 1);
    if (strcmp(argv[1], "token") == 0)
        return sdv_cmd_token(argc - 1, argv + 1);
    if (strcmp(argv[1], "slot") == 0)
        return sdv_cmd_slot(argc - 1, argv + 1);
    if (strcmp(argv[1], "signal") == 0)
        return sdv_cmd_signal(argc - 1, argv + 1);
    if (strcmp(argv[1], "app") == 0)
        return sdv_cmd_app(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sdv: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 1;
}
