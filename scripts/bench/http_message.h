/* One HTTP/1.1 message (head + Content-Length body) read from fd into buf, for the bench's C tools.
 * *have: bytes already in buf (the start of this message and perhaps more). Returns the message's total length
 * (head + body; *head_len set, the head NUL-terminated in place of its last '\n'), or -1 if the peer closed. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long read_http_message(int fd, char *buf, long cap, long *have, long *head_len) {
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
        long r = read(fd, buf + *have, cap - 1 - *have);
        if (r <= 0) return -1;
        *have += r;
    }
    long hl = end - buf + 4;
    buf[hl - 1] = 0;
    char *cl = strcasestr(buf, "content-length:");
    long n = cl ? atol(cl + 15) : 0;
    while (*have < hl + n) {
        long r = read(fd, buf + *have, cap - 1 - *have);
        if (r <= 0) return -1;
        *have += r;
    }
    *head_len = hl;
    return hl + n;
}
