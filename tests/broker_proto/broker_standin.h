/*
 * broker_standin.h - a stand-in broker on a Unix socket for the client and CLI tests (see
 * broker_standin.c for what it implements).
 */
#ifndef SDV_TEST_BROKER_STANDIN_H
#define SDV_TEST_BROKER_STANDIN_H

/* A subscription with this period gets a VALUES_LOST notice of 3 values right away. */
#define STANDIN_LOST_HOOK_PERIOD 999u

/* Listens on socket_path and serves from a thread. 0, or -1 on failure. */
int standin_start(const char *socket_path);

/* Stops the thread, closes every connection, removes the socket. */
void standin_stop(void);

#endif
