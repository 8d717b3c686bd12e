/* The floor of the router's hop, for scripts/bench_server.py: the least a router process can do between an
 * HTTP client and an instance's frame port (Sources/FoveaServer/Frame.swift) — blocking I/O on one thread,
 * one client connection and one instance connection, no HTTP library, no routing, no auth, no metrics, no
 * logs. Not part of Fovea: the benchmark runs it beside `fovea serve`, on the same instance, as the anchor
 * for "added latency per request".
 *   usage: relay_floor INSTANCE_FRAME_PORT LISTEN_PORT   (prints "ready" once listening) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "http_message.h"

enum { CAP = 1 << 24 };

static int read_fully(int fd, char *p, long n) {
    for (long got = 0; got < n;) { long r = read(fd, p + got, n - got); if (r <= 0) return 0; got += r; }
    return 1;
}

static int send_parts(int fd, struct iovec *iov, int n) {
    struct msghdr m = {0};
    m.msg_iov = iov; m.msg_iovlen = n;
    long total = 0;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    return sendmsg(fd, &m, MSG_NOSIGNAL) == total;  /* loopback, buffers large enough: one call */
}

static void put16(char **p, uint16_t v) { memcpy(*p, &v, 2); *p += 2; }
static void put32(char **p, uint32_t v) { memcpy(*p, &v, 4); *p += 4; }
static void put_str(char **p, const char *s) { size_t n = strlen(s); memcpy(*p, s, n); *p += n; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: relay_floor INSTANCE_FRAME_PORT LISTEN_PORT\n"); return 2; }
    int one = 1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); a.sin_port = htons(atoi(argv[1]));
    int inst = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(inst, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    setsockopt(inst, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_port = htons(atoi(argv[2]));
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 8)) { perror("listen"); return 1; }
    printf("ready\n"); fflush(stdout);
    char *in = malloc(CAP), *out = malloc(CAP);
    for (;;) {
        int c = accept(l, 0, 0);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        long have = 0;
        for (;;) {
            long head, total = read_http_message(c, in, CAP, &have, &head);
            if (total < 0) goto closed;
            long body = total - head;
            char frame[128], *p = frame + 12;
            put16(&p, 10); put_str(&p, "request_id"); put32(&p, 1); put_str(&p, "-");
            put16(&p, 12); put_str(&p, "content_type"); put32(&p, 16); put_str(&p, "application/json");
            char *h = frame;
            put_str(&h, "FVQ1"); put32(&h, (uint32_t)(p - frame - 12)); put32(&h, (uint32_t)body);
            struct iovec req[2] = {{frame, p - frame}, {in + head, body}};
            if (!send_parts(inst, req, 2)) return 1;
            char rh[16];
            if (!read_fully(inst, rh, 16)) return 1;
            uint32_t status, meta, len;
            memcpy(&status, rh + 4, 4); memcpy(&meta, rh + 8, 4); memcpy(&len, rh + 12, 4);
            if (meta + len > CAP || !read_fully(inst, out, meta + len)) return 1;
            char timing[128] = "";
            for (uint32_t i = 0; i + 6 <= meta;) {
                uint16_t kl; uint32_t vl;
                memcpy(&kl, out + i, 2); i += 2;
                const char *k = out + i; i += kl;
                memcpy(&vl, out + i, 4); i += 4;
                if (kl == 13 && !memcmp(k, "server_timing", 13) && vl < sizeof timing) { memcpy(timing, out + i, vl); timing[vl] = 0; }
                i += vl;
            }
            char rhead[256];
            int n = snprintf(rhead, sizeof rhead, "HTTP/1.1 %u OK\r\ncontent-type: application/json\r\nserver-timing: %s\r\n"
                             "content-length: %u\r\n\r\n", status, timing, len);
            struct iovec resp[2] = {{rhead, n}, {out + meta, len}};
            if (!send_parts(c, resp, 2)) goto closed;
            memmove(in, in + head + body, have - head - body);
            have -= head + body;
        }
    closed:
        close(c);
    }
}
