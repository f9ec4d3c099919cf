/*
 * secretfile: reading a secret (a password, a key, a connection URI) from
 * a file, the one way for every `*_file` setting of the configuration
 * (postgres.password_file, postgres.uri_file, the Kafka properties given
 * as NAME_file).
 *
 * A secret file holds the value itself: all of the file, one trailing
 * newline ("\n" or "\r\n") removed, as `echo secret > file` or a
 * Kubernetes Secret mounted as files writes it. Empty files, files holding
 * a NUL byte and files larger than the caller's bound are refused. The
 * content never goes into an error message; the error names the setting
 * and the file. Buffers that held a secret are wiped before they are
 * freed or returned with an error.
 */
#ifndef AAC_SECRETFILE_H
#define AAC_SECRETFILE_H

#include <stddef.h>

/* Bounds for the callers, in bytes of file: a password or URI, and a
 * Kafka property (a PEM key or certificate chain fits in 64 KiB). */
#define AAC_SECRETFILE_MAX_PASSWORD 4096
#define AAC_SECRETFILE_MAX_PROPERTY 65536

/* Reads the secret in `path` into buf (size bytes, the NUL included): a
 * file of more than size - 1 bytes, newline included, is refused. `setting`
 * names the configuration key in errors ("postgres.password_file").
 * Returns the length of the secret, or -1 with errstr set ("could not open
 * postgres.password_file \"/run/x\": No such file or directory") and buf
 * wiped. */
long aac_secretfile_read(const char *setting, const char *path, char *buf, size_t size,
                         char *errstr, size_t errstr_size);

/* The same into a new buffer, for a file of at most `max` bytes: returns it
 * (the caller frees it with aac_secretfile_free), or NULL with errstr set. */
char *aac_secretfile_load(const char *setting, const char *path, size_t max, char *errstr,
                          size_t errstr_size);

/* Wipes a secret from aac_secretfile_load and frees it. NULL-safe. */
void aac_secretfile_free(char *secret);

#endif
