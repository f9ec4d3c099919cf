/*
 * secretfile: a secret read from a file (see the header). The bound is
 * checked while reading, so a huge or endless file (a device, a FIFO fed
 * for ever) costs at most `size` bytes and one extra byte's read.
 */
#include "aac/secretfile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

long aac_secretfile_read(const char *setting, const char *path, char *buf, size_t size,
                         char *errstr, size_t errstr_size)
{
    FILE *fp = NULL;
    struct stat st;
    size_t n = 0;
    bool more;
    long ret = -1;

    if (size < 3) {
        snprintf(errstr, errstr_size, "%s: no room for a secret", setting);
        return -1;
    }
    fp = fopen(path, "rb");
    if (!fp) {
        snprintf(errstr, errstr_size, "could not open %s \"%s\": %s", setting, path,
                 strerror(errno));
        goto done;
    }
    /* a directory opens, but is no secret */
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(errstr, errstr_size, "could not read %s \"%s\": %s", setting, path,
                 strerror(EISDIR));
        goto done;
    }
    n = fread(buf, 1, size - 1, fp);
    if (ferror(fp)) {
        snprintf(errstr, errstr_size, "could not read %s \"%s\": %s", setting, path,
                 strerror(errno));
        goto done;
    }
    more = n == size - 1 && fgetc(fp) != EOF;
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
            buf[--n] = '\0';
    }
    if (more) {
        snprintf(errstr, errstr_size, "%s \"%s\" is too large (more than %zu bytes)", setting, path,
                 size - 1);
        goto done;
    }
    if (n == 0) {
        snprintf(errstr, errstr_size, "%s \"%s\" is empty", setting, path);
        goto done;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(errstr, errstr_size, "%s \"%s\" contains a NUL byte", setting, path);
        goto done;
    }
    ret = (long)n;

done:
    if (fp)
        fclose(fp);
    if (ret < 0)
        explicit_bzero(buf, size);
    return ret;
}

char *aac_secretfile_load(const char *setting, const char *path, size_t max, char *errstr,
                          size_t errstr_size)
{
    /* + 1: the NUL */
    char *buf = malloc(max + 1);
    if (!buf) {
        snprintf(errstr, errstr_size, "could not read %s \"%s\": out of memory", setting, path);
        return NULL;
    }
    if (aac_secretfile_read(setting, path, buf, max + 1, errstr, errstr_size) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void aac_secretfile_free(char *secret)
{
    if (!secret)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}
