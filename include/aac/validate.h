/*
 * validate: the `validate` subcommand. Reads JSON lines from files or
 * standard input and checks each with exactly the parser the consumer uses.
 */
#ifndef AAC_VALIDATE_H
#define AAC_VALIDATE_H

#include "aac/config.h"

/* argv[0] is "validate". Returns 0 when every line is valid, 1 when any is
 * not, 2 on a usage error or unreadable file. */
int aac_validate_main(const aac_config_t *cfg, int argc, char **argv);

#endif
