/*
 * sdv_cmds.h - the subcommands of the sdv program. Each takes the arguments after its own name
 * (argv[0] is the subcommand name) and returns the process exit status.
 */
#ifndef SDV_CMDS_H
#define SDV_CMDS_H

int sdv_cmd_keygen(int argc, char **argv);
int sdv_cmd_repo(int argc, char **argv);
int sdv_cmd_tuf_client(int argc, char **argv);
int sdv_cmd_vehicle(int argc, char **argv);
int sdv_cmd_assign(int argc, char **argv);
int sdv_cmd_delta(int argc, char **argv);
int sdv_cmd_token(int argc, char **argv);
int sdv_cmd_slot(int argc, char **argv);
int sdv_cmd_signal(int argc, char **argv);
int sdv_cmd_app(int argc, char **argv);

#endif
