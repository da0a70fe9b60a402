/* bench_ack.c - durable-ack fixed-rate workload against ackbroker: publisher thread (DEALER,
 * paced, window W, confirms), consumer thread (DEALER, drains up to 256, one ack per batch).
 * -x shared: one zmq context (one I/O thread) for both, as Ferry's generator; default separate. */
#include "common.h"   /* ../shared/peers/src/common.h: pacing, payload, report */
#include <zmq.h>
static opts_t O; static run_t R; static gate_t G = GATE_INIT; static void *shared;
static void *ctx_for(void) { return shared ? shared : zmq_ctx_new(); }
static void *consumer(void *arg)
{
    void *s = zmq_socket(ctx_for(), ZMQ_DEALER);
    char ep[64]; snprintf(ep, sizeof ep, "tcp://%s:%d", O.host, O.port);
    if (zmq_connect(s, ep)) DIE("connect");
    zmq_send(s, "S", 1, 0);
    usleep(200000);
    gate_open(&G, 0);
    unsigned char buf[PAYLOAD_MAX + 1];
    int tmo = 1000; zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    uint64_t deadline = now_ns() + (uint64_t)O.deadline_s * 1000000000ull;
    while (R.nlat < run_target(&R)) {
        int n = zmq_recv(s, buf, sizeof buf, 0);
        if (n < 0) { if (now_ns() > deadline) break; continue; }
        uint64_t now = now_ns(); int batch = 1;
        run_record(&R, buf + 1, (size_t)n - 1, now);
        while (batch < 256 && (n = zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT)) > 0) { run_record(&R, buf + 1, (size_t)n - 1, now); batch++; }
        unsigned char ack[9] = { 'A' }; put_u64(ack + 1, (uint64_t)batch);
        zmq_send(s, ack, sizeof ack, 0);
    }
    R.t_last_ack = now_ns();
    return NULL;
}
int main(int argc, char **argv)
{
    O = parse_opts(argc, argv, "zmq-ack");
    if (O.extra && strcmp(O.extra, "shared") == 0) shared = zmq_ctx_new();
    run_init(&R, O.n);
    pthread_t th; pthread_create(&th, NULL, consumer, NULL);
    if (gate_wait(&G)) DIE("consumer setup failed");
    void *s = zmq_socket(ctx_for(), ZMQ_DEALER);
    char ep[64]; snprintf(ep, sizeof ep, "tcp://%s:%d", O.host, O.port);
    if (zmq_connect(s, ep)) DIE("connect");
    usleep(300000);
    unsigned char buf[PAYLOAD_MAX + 1]; buf[0] = 'P'; init_payload(buf + 1, O.payload);
    long sent = 0, inflight = 0;
    pacer_t P = pacer_start(&R, &O);
    zmq_pollitem_t item = { s, 0, ZMQ_POLLIN, 0 };
    while (R.confirmed < R.n) {
        while (sent < R.n && inflight < O.window) {
            uint64_t now = now_ns(), due = pace_due(&P, sent);
            if (due > now) break;
            if (!pace_note_send(&P, &R, sent, due, now)) DIE("gave up");
            make_payload_at(buf + 1, (uint64_t)sent, due);
            zmq_send(s, buf, (size_t)O.payload + 1, 0);
            sent++; inflight++;
        }
        long timeout = 100;
        if (sent < R.n && inflight < O.window) {
            uint64_t now = now_ns(), due = pace_due(&P, sent);
            if (due <= now) continue;
            uint64_t wait = due - now;
            if (wait < 1000000) { /* sub-ms: ppoll on the zmq fd can't be used; sleep precisely */
                if (zmq_poll(&item, 1, 0) <= 0) { pace_sleep_until(&P, due); continue; }
                timeout = 0;
            } else timeout = (long)(wait / 1000000);
        }
        if (timeout) zmq_poll(&item, 1, timeout);
        unsigned char c[8];
        while (zmq_recv(s, c, sizeof c, ZMQ_DONTWAIT) > 0) { inflight--; R.confirmed++; }
    }
    R.sent = sent; R.t_pub_done = now_ns();
    pthread_join(th, NULL);
    return run_report(&R, &O);
}
