/*
 * broker_standin_main.c - runs the stand-in broker (broker_standin.c) on a socket until SIGTERM
 * or SIGINT, for the `sdv signal` CLI test. Usage: broker_standin SOCKET
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "broker_standin.h"

int main(int argc, char **argv)
{
    sigset_t set;
    int sig;

    if (argc != 2) {
        fputs("usage: broker_standin SOCKET\n", stderr);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server thread inherits the mask */
    if (standin_start(argv[1]) != 0) {
        perror("broker_standin");
        return 1;
    }
    sigwait(&set, &sig);
    standin_stop();
    return 0;
}
