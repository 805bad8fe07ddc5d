// Opens N idle HTTP/1.1 keep-alive client connections, so a benchmark can measure a server's
// memory per idle connection: each one connects, sends one GET, reads the whole response and
// then stays open and silent. Compiled on the fly by the benchmark scripts (cc -O2).
//
// Usage: idle_conns HOST PORT COUNT PATH [MAX_IN_FLIGHT] [TIMEOUT_S]
// Prints "READY ok=N failed=F bad_status=B timed_out=T not_started=S" once every connection has
// settled: idle after a 200 (ok), refused or reset (failed), answered with another status
// (bad_status, closed), or without a full response after TIMEOUT_S (default 15). When nothing
// progresses for TIMEOUT_S, the connections not yet opened are given up (not_started). Then
// waits for SIGTERM or SIGINT, prints "DONE still_open=K closed_by_server=C" and exits.
// MAX_IN_FLIGHT (default 200) bounds connections in the connect/request phase at once, so the
// server's listen backlog never overflows (an overflowed SYN is retried only after 1 s).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { UNUSED, CONNECTING, READING, IDLE, CLOSED };

struct conn {
    int fd;
    enum state state;
    size_t sent;
    double started;  // monotonic seconds at connect
    char *buf;  // response bytes while reading; freed once idle
    size_t len, cap;
};

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static char request[1024];
static size_t request_len;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "idle_conns: %s: %s\n", what, strerror(errno));
    exit(2);
}

// 1 when buf holds a complete response, 0 when more is needed, -1 when it is not a 200.
static int response_complete(const char *buf, size_t len) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    if (len < 12 || strncmp(buf + 9, "200", 3) != 0) return -1;
    size_t head = (size_t)(end - buf) + 4;
    // Content-Length, else chunked (ends with the zero chunk), else unknown (treat as done).
    for (const char *p = buf; p < end; ) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if (strncasecmp(p, "content-length:", 15) == 0) {
            size_t body = strtoul(p + 15, NULL, 10);
            return len >= head + body ? 1 : 0;
        }
        if (strncasecmp(p, "transfer-encoding:", 18) == 0) {
            return len >= head + 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0 ? 1 : 0;
        }
        p = eol + 2;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: idle_conns HOST PORT COUNT PATH [MAX_IN_FLIGHT] [TIMEOUT_S]\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    int count = atoi(argv[3]);
    const char *path = argv[4];
    int max_in_flight = argc > 5 ? atoi(argv[5]) : 200;
    double timeout_s = argc > 6 ? atof(argv[6]) : 15.0;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((long)rl.rlim_cur < count + 16) {
            fprintf(stderr, "idle_conns: open-file limit %ld is below %d connections\n",
                    (long)rl.rlim_cur, count);
            return 2;
        }
    }

    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: idle_conns\r\n\r\n",
                                   path, host, port);

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "idle_conns: HOST must be an IPv4 literal\n");
        return 2;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct conn *conns = calloc((size_t)count, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) die("setup");

    int next = 0, in_flight = 0, ok = 0, failed = 0, bad_status = 0, timed_out = 0;
    int not_started = 0, closed_by_server = 0;
    int ready_printed = 0;
    double last_scan = now_s(), last_progress = now_s();
    struct epoll_event events[256];

    for (;;) {
        // Start new connections while below the in-flight bound.
        while (next < count && in_flight < max_in_flight) {
            struct conn *c = &conns[next];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0) die("socket");
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
                close(c->fd);
                c->state = CLOSED;
                failed++;
                next++;
                continue;
            }
            c->state = CONNECTING;
            c->started = now_s();
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)next};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
            in_flight++;
            next++;
        }

        if (!ready_printed && next == count && in_flight == 0) {
            printf("READY ok=%d failed=%d bad_status=%d timed_out=%d not_started=%d\n", ok, failed,
                   bad_status, timed_out, not_started);
            fflush(stdout);
            ready_printed = 1;
        }
        if (stop_requested) break;

        // Once a second, give up on connections still without a full response after timeout_s:
        // a server that stalls must not stall the benchmark.
        double now = now_s();
        if (now - last_scan >= 1.0) {
            last_scan = now;
            for (int i = 0; i < next; i++) {
                struct conn *c = &conns[i];
                if ((c->state == CONNECTING || c->state == READING) && now - c->started > timeout_s) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    free(c->buf);
                    c->buf = NULL;
                    c->state = CLOSED;
                    timed_out++;
                    in_flight--;
                }
            }
            if (now - last_progress > timeout_s && next < count) {
                not_started += count - next;
                next = count;
            }
        }

        int n = epoll_wait(ep, events, 256, 1000);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[events[i].data.u32];
            uint32_t e = events[i].events;
            int fail = 0;  // 1: refused, reset or closed early; 2: a status other than 200
            if (c->state == CONNECTING && (e & EPOLLOUT)) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) {
                    fail = 1;
                } else {
                    ssize_t w = write(c->fd, request + c->sent, request_len - c->sent);
                    if (w > 0) c->sent += (size_t)w;
                    if (w < 0 && errno != EAGAIN) fail = 1;
                    if (!fail && c->sent == request_len) {
                        c->state = READING;
                        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = events[i].data.u32};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    }
                }
            } else if (c->state == READING && (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
                if (c->cap - c->len < 4096) {
                    c->cap = c->cap ? c->cap * 2 : 8192;
                    c->buf = realloc(c->buf, c->cap);
                    if (!c->buf) die("realloc");
                }
                ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    int done = response_complete(c->buf, c->len);
                    if (done < 0) fail = 2;
                    if (done > 0) {
                        last_progress = now_s();
                        free(c->buf);
                        c->buf = NULL;
                        c->len = c->cap = 0;
                        c->state = IDLE;
                        ok++;
                        in_flight--;
                    }
                } else if (r == 0 || errno != EAGAIN) {
                    fail = 1;
                }
            } else if (c->state == IDLE && (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
                // An idle connection hears only its close (idle timeout, shutdown).
                char scratch[512];
                ssize_t r = read(c->fd, scratch, sizeof scratch);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->state = CLOSED;
                    closed_by_server++;
                }
            } else if (e & (EPOLLERR | EPOLLHUP)) {
                fail = 1;
            }
            if (fail) {
                last_progress = now_s();
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c->buf);
                c->buf = NULL;
                c->state = CLOSED;
                if (fail == 2) bad_status++; else failed++;
                in_flight--;
            }
        }
    }

    int still_open = 0;
    for (int i = 0; i < count; i++) {
        if (conns[i].state == IDLE) {
            still_open++;
            close(conns[i].fd);
        }
    }
    if (!ready_printed)
        printf("READY ok=%d failed=%d bad_status=%d timed_out=%d not_started=%d\n", ok, failed,
               bad_status, timed_out, not_started + (count - next));
    printf("DONE still_open=%d closed_by_server=%d\n", still_open, closed_by_server);
    fflush(stdout);
    return 0;
}
