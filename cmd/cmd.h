/* cmd.h: subcommands implemented outside main.c. Each takes the arguments
 * after its name and returns the process exit status. */
#ifndef CMD_H
#define CMD_H

int cmd_audit_report(int argc, char **argv); /* cmd_audit.c */
int cmd_audit_clock(int argc, char **argv);  /* cmd_audit.c */

#endif /* CMD_H */
