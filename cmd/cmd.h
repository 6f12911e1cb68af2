/* cmd.h: the subcommands main() dispatches to, one file each beside
 * main.c. Each takes main's argc/argv (argv[1] is the command) and returns
 * the exit status: 0 ok, 1 failure, 2 usage. */
#ifndef CMD_H
#define CMD_H

int cmd_heal(int argc, char **argv);   /* cmd_heal.c */
int cmd_meta(int argc, char **argv);   /* cmd_heal.c */
int cmd_pack(int argc, char **argv);   /* cmd_heal.c */
int cmd_audit_report(int argc, char **argv); /* cmd_audit.c */
int cmd_audit_clock(int argc, char **argv);  /* cmd_audit.c */

#endif /* CMD_H */
