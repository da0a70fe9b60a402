/*
 * A small program for the simulator's self-test (test_powercut_selftest.py): writes, syncs,
 * renames and unlinks files in the directory argv[1] through every call the shim intercepts, then
 * kills itself with SIGKILL. The test knows what a power cut must leave of each file.
 *
 * Build: cc -O2 -pthread -o selftest selftest.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void check(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(2);
    }
}

static int root;

#define THREADS 4
#define RECORDS 205
#define RECORD 100

static void *writer(void *arg) {
    long i = (long)arg;
    char name[32];
    snprintf(name, sizeof name, "t%ld.dat", i);
    int fd = openat(root, name, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    check(fd >= 0, "openat thread file");
    char buf[RECORD];
    for (int k = 0; k < RECORDS; k++) {
        memset(buf, 'a' + (int)(k % 26), sizeof buf);
        buf[0] = (char)('0' + i);
        check(pwrite(fd, buf, sizeof buf, (off_t)k * RECORD) == RECORD, "pwrite thread");
        if ((k + 1) % 10 == 0) check(fdatasync(fd) == 0, "fdatasync thread");
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: selftest DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(root >= 0, "open dir");
    check(chdir(dir) == 0, "chdir");
    char path[4096];

    /* a.txt: synced "hello", unsynced " world". */
    snprintf(path, sizeof path, "%s/a.txt", dir);
    int a = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    check(a >= 0, "open a");
    check(write(a, "hello", 5) == 5, "write a");
    check(fsync(a) == 0, "fsync a");
    check(write(a, " world", 6) == 6, "write a 2");

    /* runway.dat: zeros written and synced ahead, then records overwrite them. */
    int r = openat(root, "runway.dat", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    check(r >= 0, "open runway");
    static char zeros[8192];
    check(pwrite(r, zeros, sizeof zeros, 0) == (ssize_t)sizeof zeros, "pwrite zeros");
    check(fdatasync(r) == 0, "fdatasync runway");
    check(pwrite(r, "REC1", 4, 0) == 4, "pwrite REC1");
    check(fdatasync(r) == 0, "fdatasync REC1");
    check(pwrite64(r, "REC2", 4, 4) == 4, "pwrite REC2");
    check(sync_file_range(r, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0,
          "sync_file_range");

    /* keep.txt (in the base): overwritten, never synced. */
    int k = open("keep.txt", O_WRONLY | O_CLOEXEC); /* relative to the cwd */
    check(k >= 0, "open keep");
    check(pwrite(k, "XXXX", 4, 0) == 4, "pwrite keep");

    /* old.txt (in the base): unlinked, and the directory synced below. */
    check(unlink("old.txt") == 0, "unlink old");

    /* trunc.txt (base "0123456789"): cut to 3 and synced, then cut to 1. */
    int t = open64("trunc.txt", O_RDWR | O_CLOEXEC);
    check(t >= 0, "open trunc");
    check(ftruncate(t, 3) == 0, "ftruncate 3");
    check(fsync(t) == 0, "fsync trunc");
    check(ftruncate64(t, 1) == 0, "ftruncate 1");

    /* ot.txt (base "original"): opened with O_TRUNC and written, never synced. */
    int o = openat64(root, "ot.txt", O_WRONLY | O_TRUNC | O_CLOEXEC);
    check(o >= 0, "open ot");
    check(write(o, "new", 3) == 3, "write ot");

    /* final: written as tmp, synced, renamed over; the directory synced below. */
    int tmp = openat(root, "tmp", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    check(tmp >= 0, "open tmp");
    check(write(tmp, "atomic", 6) == 6, "write tmp");
    check(fsync(tmp) == 0, "fsync tmp");
    check(renameat(root, "tmp", root, "final") == 0, "rename");

    /* app.log: O_APPEND writes. */
    int ap = open("app.log", O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    check(ap >= 0, "open app");
    check(write(ap, "one", 3) == 3, "write one");
    check(write(ap, "two", 3) == 3, "write two");
    check(fsync(ap) == 0, "fsync app");
    check(write(ap, "three", 5) == 5, "write three");

    /* vec.dat: writev and pwritev. */
    int v = open("vec.dat", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    check(v >= 0, "open vec");
    struct iovec two[2] = {{"ab", 2}, {"cd", 2}};
    check(writev(v, two, 2) == 4, "writev");
    struct iovec xy[1] = {{"XY", 2}};
    check(pwritev(v, xy, 1, 1) == 2, "pwritev");
    check(fdatasync(v) == 0, "fdatasync vec");
    struct iovec tail[1] = {{"tail", 4}};
    check(pwritev2(v, tail, 1, 4, 0) == 4, "pwritev2");

    /* fall.dat: fallocate synced, posix_fallocate not. */
    int f = open("fall.dat", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    check(f >= 0, "open fall");
    check(fallocate(f, 0, 0, 4096) == 0, "fallocate");
    check(fdatasync(f) == 0, "fdatasync fall");
    check(posix_fallocate(f, 0, 8192) == 0, "posix_fallocate");

    /* dup.dat: writes through dup'ed descriptors and a second open; synced through the first. */
    int d1 = open("dup.dat", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    check(d1 >= 0, "open dup");
    int d2 = dup(d1);
    check(d2 >= 0, "dup");
    check(write(d2, "dup", 3) == 3, "write dup");
    int d3 = fcntl(d1, F_DUPFD_CLOEXEC, 100);
    check(d3 >= 100, "F_DUPFD_CLOEXEC");
    check(pwrite(d3, "!", 1, 3) == 1, "pwrite F_DUPFD");
    int d4 = open("dup.dat", O_WRONLY | O_CLOEXEC);
    check(d4 >= 0, "open dup again");
    check(pwrite(d4, "Z", 1, 4) == 1, "pwrite second descriptor");
    check(close(d2) == 0, "close d2");
    check(fsync(d1) == 0, "fsync dup");
    check(pwrite(d4, "lost", 4, 5) == 4, "pwrite lost");
    int d5 = dup2(d4, 200);
    check(d5 == 200, "dup2");
    check(pwrite(d5, "L", 1, 9) == 1, "pwrite dup2");

    /* creat.txt */
    int c = creat("creat.txt", 0644);
    check(c >= 0, "creat");
    check(write(c, "c", 1) == 1, "write creat");
    check(fsync(c) == 0, "fsync creat");

    /* A descriptor number reused for a pipe after a close we see: never taken for the file. */
    int gone = open("gone.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    check(gone >= 0, "open gone");
    check(close(gone) == 0, "close gone");
    int pipes[2];
    check(pipe(pipes) == 0, "pipe");
    check(write(pipes[1], "pipe", 4) == 4, "write pipe");

    /* sub2/g: the directory made durable before the file was created in it. */
    check(mkdirat(root, "sub2", 0755) == 0, "mkdir sub2");

    /* Threads: t<i>.dat, 205 records each, synced every 10. */
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++) check(pthread_create(&threads[i], NULL, writer, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);

    /* The root's entries so far are durable. */
    check(fsync(root) == 0, "fsync root");

    int s2 = open("sub2", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(s2 >= 0, "open sub2");
    int g = openat(s2, "g", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    check(g >= 0, "open g");
    check(write(g, "gee", 3) == 3, "write g");
    check(fdatasync(g) == 0, "fdatasync g");
    check(fsync(s2) == 0, "fsync sub2");

    /* After the root's last sync: b.txt synced but its entry not; zombie.txt unlinked but the
     * unlink not synced; sub/ created and synced inside, but its own entry not. */
    int b = open("b.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    check(b >= 0, "open b");
    check(write(b, "bbb", 3) == 3, "write b");
    check(fsync(b) == 0, "fsync b");
    check(unlink("zombie.txt") == 0, "unlink zombie");
    check(mkdir("sub", 0755) == 0, "mkdir sub");
    int sub = open("sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(sub >= 0, "open sub");
    int sf = openat(sub, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    check(sf >= 0, "open sub/f");
    check(write(sf, "eff", 3) == 3, "write sub/f");
    check(fsync(sf) == 0, "fsync sub/f");
    check(fsync(sub) == 0, "fsync sub");

    /* A power cut now. */
    fflush(stdout);
    raise(SIGKILL);
    return 1;
}
