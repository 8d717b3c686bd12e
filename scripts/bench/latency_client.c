/* Per-request latency client for scripts/bench_server.py: one kept-open connection, COUNT requests one after
 * another, each timed from its first byte written to its last byte read (CLOCK_MONOTONIC). Prints one line
 * per request: "<status> <client microseconds> <model ms from Server-Timing model;dur=>". A C client, so the
 * client's own parsing does not count as the server's latency (a Python client added ~0.1 ms per request).
 *   latency_client http  PORT BODY_FILE COUNT KEY    POST /score with Authorization: Bearer KEY
 *   latency_client frame PORT BODY_FILE COUNT        the instance's frame protocol (Sources/FoveaServer/Frame.swift) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "http_message.h"

enum { CAP = 1 << 24 };

static long now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }

static int write_all(int fd, const char *p, long n) {
    for (long put = 0; put < n;) { long r = write(fd, p + put, n - put); if (r <= 0) return 0; put += r; }
    return 1;
}

static int read_fully(int fd, char *p, long n) {
    for (long got = 0; got < n;) { long r = read(fd, p + got, n - got); if (r <= 0) return 0; got += r; }
    return 1;
}

static double model_ms(const char *p, long n) {
    const char *s = memmem(p, n, "model;dur=", 10);
    return s ? atof(s + 10) : -1;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: latency_client http|frame PORT BODY_FILE COUNT [KEY]\n"); return 2; }
    int frame = strcmp(argv[1], "frame") == 0, count = atoi(argv[4]);
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 1; }
    fseek(f, 0, SEEK_END); long body = ftell(f); fseek(f, 0, SEEK_SET);
    char *req = malloc(body + 4096), *buf = malloc(CAP);
    long head;
    if (frame) {
        char *p = req + 12;
        const char *k = "content_type", *v = "application/json";
        uint16_t kl = strlen(k); uint32_t vl = strlen(v), ml, bl = body;
        memcpy(p, &kl, 2); p += 2; memcpy(p, k, kl); p += kl; memcpy(p, &vl, 4); p += 4; memcpy(p, v, vl); p += vl;
        ml = p - req - 12;
        memcpy(req, "FVQ1", 4); memcpy(req + 4, &ml, 4); memcpy(req + 8, &bl, 4);
        head = p - req;
    } else {
        head = sprintf(req, "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Authorization: Bearer %s\r\nContent-Length: %ld\r\n\r\n", argc > 5 ? argv[5] : "", body);
    }
    if (fread(req + head, 1, body, f) != (size_t)body) { perror("read"); return 1; }
    long total = head + body;
    int one = 1, c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); a.sin_port = htons(atoi(argv[2]));
    if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long have = 0;  /* http: bytes of the next answer already read */
    for (int i = 0; i < count; i++) {
        long t0 = now_ns();
        if (!write_all(c, req, total)) { perror("write"); return 1; }
        unsigned status; double ms;
        if (frame) {
            uint32_t st, ml, bl;
            if (!read_fully(c, buf, 16)) { perror("read"); return 1; }
            memcpy(&st, buf + 4, 4); memcpy(&ml, buf + 8, 4); memcpy(&bl, buf + 12, 4);
            if (16L + ml + bl > CAP || !read_fully(c, buf + 16, ml + bl)) { perror("read"); return 1; }
            status = st; ms = model_ms(buf + 16, ml);
        } else {
            long hl, total = read_http_message(c, buf, CAP, &have, &hl);
            if (total < 0) { perror("read"); return 1; }
            long n = total - hl;
            status = atoi(buf + 9); ms = model_ms(buf, hl);
            memmove(buf, buf + hl + n, have - hl - n);
            have -= hl + n;
        }
        long t1 = now_ns();
        printf("%u %.1f %.3f\n", status, (t1 - t0) / 1000.0, ms);
    }
    return 0;
}
