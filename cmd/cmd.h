/* cmd.h: the subcommands main() dispatches to, one file each beside
 * main.c. Each takes main's argc/argv (argv[1] is the command) and returns
 * the exit status: 0 ok, 1 failure, 2 usage. */
#ifndef CMD_H
#define CMD_H

#include <stddef.h>

#include "ec.h"

int cmd_heal(int argc, char **argv);   /* cmd_heal.c */
int cmd_meta(int argc, char **argv);   /* cmd_heal.c */
int cmd_pack(int argc, char **argv);   /* cmd_heal.c */
int cmd_audit_report(int argc, char **argv); /* cmd_audit.c */
int cmd_audit_clock(int argc, char **argv);  /* cmd_audit.c */
int cmd_user(int argc, char **argv);   /* cmd_user.c */
int cmd_key(int argc, char **argv);    /* cmd_key.c */

struct conf;
/* Loads --config (may be NULL) and --data (may be NULL) over the defaults
 * and finalizes c; 0, or 1 with the error printed (cmd_heal.c). */
int cmd_load_conf(struct conf *c, const char *config, const char *data);

/* Opens the disks c names with its erasure layout (cmd_heal.c). shared 1:
 * a server may be writing (an offline tool: tmp/ left alone, nothing
 * packed); 0: this process owns them, packing versions of at most
 * pack_threshold bytes. */
enum ec_status cmd_open_disks(const struct conf *c, int shared, size_t pack_threshold,
                   struct ec_set **out);

#endif /* CMD_H */
