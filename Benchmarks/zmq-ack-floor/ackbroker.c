/*
 * ackbroker.c - the least a libzmq broker can do for the durable-ack workload: no storage, no
 * protocol, one thread looping over zmq_poll on a ROUTER.
 *   "S"          from the consumer: remember its routing id
 *   "P" payload  from a publisher:  confirm "C" to it, then deliver "D" payload to the consumer
 *   "A" count    from the consumer: an ack (dropped)
 * It also times each publish from its payload's intended send time to the moment zmq_poll
 * returned with it, and prints the p50/p90 of the first 100 000 to stderr.
 * With a file, it is the floor for the fsync-before-confirm mode: each pass's publishes are
 * appended to the file and one fdatasync covers them, on the loop thread (as Redis's
 * appendfsync always), before their confirms and deliveries go out.
 * usage: ackbroker port [file]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define TIMED 100000
#define PASS 4096

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t upstream[TIMED];
static long timed;

/* One pass's publishes, held until the fdatasync that covers them (file mode only). */
static unsigned char held_ids[PASS][256], held_bodies[PASS][128];
static int held_id_lengths[PASS], held_lengths[PASS];

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) { fprintf(stderr, "usage: %s port [file]\n", argv[0]); return 2; }
    int file = -1;
    if (argc == 3 && (file = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) < 0) { perror("open"); return 2; }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", atoi(argv[1]));
    void *context = zmq_ctx_new();
    void *router = zmq_socket(context, ZMQ_ROUTER);
    int hwm = 100000;
    zmq_setsockopt(router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(router, endpoint)) { perror("zmq_bind"); return 2; }
    unsigned char consumer[256], id[256], body[65536];
    int consumer_length = 0;
    zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
    for (;;) {
        zmq_poll(&item, 1, 100);
        uint64_t woke = now_ns();
        int held = 0;
        for (;;) {
            int id_length = zmq_recv(router, id, sizeof id, ZMQ_DONTWAIT);
            if (id_length < 0) break;
            int length = zmq_recv(router, body, sizeof body, 0);
            if (length < 1) continue;
            if (body[0] == 'S') { memcpy(consumer, id, (size_t)id_length); consumer_length = id_length; continue; }
            if (body[0] != 'P' || length < 9) continue;
            uint64_t due;
            memcpy(&due, body + 1, 8);
            if (timed < TIMED) {
                upstream[timed++] = woke > due ? woke - due : 0;
                if (timed == TIMED) {
                    qsort(upstream, TIMED, sizeof upstream[0], compare);
                    fprintf(stderr, "# upstream (intended send time -> broker's zmq_poll returns) p50 %.1f us p90 %.1f us\n",
                            upstream[TIMED / 2] / 1e3, upstream[TIMED * 9 / 10] / 1e3);
                }
            }
            if (file >= 0 && length <= 128) {
                if (write(file, body, (size_t)length) != length) { perror("write"); return 1; }
                memcpy(held_ids[held], id, (size_t)id_length);
                held_id_lengths[held] = id_length;
                memcpy(held_bodies[held], body, (size_t)length);
                held_lengths[held] = length;
                if (++held == PASS) break;
                continue;
            }
            unsigned char confirm = 'C';
            zmq_send(router, id, (size_t)id_length, ZMQ_SNDMORE);
            zmq_send(router, &confirm, 1, 0);
            if (consumer_length) {
                body[0] = 'D';
                zmq_send(router, consumer, (size_t)consumer_length, ZMQ_SNDMORE);
                zmq_send(router, body, (size_t)length, 0);
            }
        }
        if (held == 0) continue;
        if (fdatasync(file)) { perror("fdatasync"); return 1; }
        for (int i = 0; i < held; i++) {
            unsigned char confirm = 'C';
            zmq_send(router, held_ids[i], (size_t)held_id_lengths[i], ZMQ_SNDMORE);
            zmq_send(router, &confirm, 1, 0);
            if (consumer_length) {
                held_bodies[i][0] = 'D';
                zmq_send(router, consumer, (size_t)consumer_length, ZMQ_SNDMORE);
                zmq_send(router, held_bodies[i], (size_t)held_lengths[i], 0);
            }
        }
    }
}
