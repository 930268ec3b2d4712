/* test_outfile.c - output files never destroy what is not OUT's regular file (io/outfile.h):
 * symbolic links are written through, FIFOs/devices/directories are refused and left as they
 * were, an output that is an input is refused, the umask applies to new files and a replaced
 * file keeps its mode, a failed write (a file-size limit standing in for a full disk) leaves the
 * old file and no temporary, and the interrupt cleanup removes registered temporaries. */
#include "io/npy.h"
#include "io/outfile.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static const char *at(const char *name) {
    static char paths[4][512];
    static int k;
    char *p = paths[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static bn_status write_text(const char *out, const char *text) {
    bn_outfile f;
    BN_TRY(bn_outfile_open(&f, out));
    bn_status st = bn_outfile_write(&f, text, strlen(text));
    if (st != BN_OK) {
        bn_outfile_discard(&f);
        return st;
    }
    return bn_outfile_commit(&f);
}

static bool has_text(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* Entries of the test folder whose name contains ".tmp." */
static int temps_left(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d != NULL)
        closedir(d);
    return n;
}

static mode_t mode_of(const char *path, bool follow) {
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
        return 0;
    return st.st_mode;
}

static void test_symlinks(void) {
    CHECK_OK(write_text(at("target"), "old"));
    CHECK(symlink("target", at("link")) == 0, "symlink");
    CHECK(symlink("link", at("link2")) == 0, "symlink to a symlink");
    CHECK_OK(write_text(at("link2"), "new"));
    CHECK(S_ISLNK(mode_of(at("link"), false)) && S_ISLNK(mode_of(at("link2"), false)),
          "the links are still links");
    CHECK(has_text(at("target"), "new"), "written through the links");
    /* a dangling link: the file it names is created */
    CHECK(symlink("created", at("dangling")) == 0, "dangling symlink");
    CHECK_OK(write_text(at("dangling"), "made"));
    CHECK(S_ISLNK(mode_of(at("dangling"), false)) && has_text(at("created"), "made"),
          "a dangling link's target is created");
    CHECK(symlink("loop_b", at("loop_a")) == 0 && symlink("loop_a", at("loop_b")) == 0, "loop");
    CHECK(write_text(at("loop_a"), "x") == BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "symbolic links"),
          "a link loop is refused: %s", bn_last_error());
    CHECK(temps_left() == 0, "no temporary file left");
}

static void test_special_files(void) {
    CHECK(mkfifo(at("fifo"), 0644) == 0, "mkfifo");
    CHECK(write_text(at("fifo"), "x") == BN_ERR_INVALID_ARG && strstr(bn_last_error(), "FIFO"),
          "FIFO refused: %s", bn_last_error());
    CHECK(S_ISFIFO(mode_of(at("fifo"), false)), "the FIFO is still a FIFO");
    CHECK(symlink("fifo", at("to_fifo")) == 0, "symlink");
    CHECK(write_text(at("to_fifo"), "x") == BN_ERR_INVALID_ARG, "a link to a FIFO is refused");
    CHECK(mkdir(at("sub"), 0755) == 0, "mkdir");
    CHECK(write_text(at("sub"), "x") == BN_ERR_INVALID_ARG && strstr(bn_last_error(), "directory"),
          "directory refused: %s", bn_last_error());
    /* A device node of our own (the numbers of /dev/full), never a system device. Making one
     * needs CAP_MKNOD; without it the FIFO above covers the same code path. */
    if (mknod(at("full"), S_IFCHR | 0666, makedev(1, 7)) == 0) {
        CHECK(write_text(at("full"), "x") == BN_ERR_INVALID_ARG &&
                  strstr(bn_last_error(), "character device"),
              "device refused: %s", bn_last_error());
        CHECK(S_ISCHR(mode_of(at("full"), false)), "the device node is untouched");
    } else {
        printf("device node: skipped (mknod: %s)\n", strerror(errno));
    }
    CHECK(temps_left() == 0, "no temporary file left");
}

static void test_inputs(void) {
    CHECK_OK(write_text(at("in"), "model"));
    CHECK(link(at("in"), at("hard")) == 0 && symlink("in", at("soft")) == 0, "links");
    CHECK(bn_outfile_check_not_input(at("in"), at("in"), "the input model") == BN_ERR_INVALID_ARG,
          "same path");
    CHECK(bn_outfile_check_not_input(at("hard"), at("in"), "the input model") == BN_ERR_INVALID_ARG,
          "hard link");
    CHECK(bn_outfile_check_not_input(at("soft"), at("in"), "the input model") ==
                  BN_ERR_INVALID_ARG &&
              strstr(bn_last_error(), "the input model"),
          "symbolic link: %s", bn_last_error());
    CHECK_OK(bn_outfile_check_not_input(at("other"), at("in"), "the input model"));
    CHECK_OK(bn_outfile_check_not_input(at("target"), at("in"), "the input model"));
}

static void test_modes(void) {
    mode_t old = umask(027);
    CHECK_OK(write_text(at("masked"), "x"));
    CHECK((mode_of(at("masked"), true) & 0777) == 0640, "umask 027: mode %o",
          (unsigned)(mode_of(at("masked"), true) & 0777));
    CHECK(chmod(at("masked"), 0600) == 0, "chmod");
    CHECK_OK(write_text(at("masked"), "y"));
    CHECK((mode_of(at("masked"), true) & 0777) == 0600, "a replaced file keeps its mode: %o",
          (unsigned)(mode_of(at("masked"), true) & 0777));
    umask(old);
}

/* A file-size limit makes the writes fail with EFBIG, as a full disk fails them with ENOSPC:
 * the .npy writer must leave the old file whole and remove its temporary file. In a child, so
 * the limit does not outlive the test. */
static void test_failed_write(void) {
    float small[4] = {1, 2, 3, 4};
    int64_t four = 4;
    CHECK_OK(bn_npy_write_f32(at("x.npy"), small, &four, 1));
    struct stat before;
    stat(at("x.npy"), &before);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {8192, 8192};
        setrlimit(RLIMIT_FSIZE, &lim);
        static float big[100000];
        int64_t n = 100000;
        bn_status st = bn_npy_write_f32(at("x.npy"), big, &n, 1);
        _exit(st == BN_ERR_IO ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the write over the limit failed");
    struct stat after;
    stat(at("x.npy"), &after);
    CHECK(after.st_size == before.st_size && after.st_ino == before.st_ino,
          "the old file is untouched (%lld bytes)", (long long)after.st_size);
    CHECK(temps_left() == 0, "no temporary file left");
}

static void test_interrupt_cleanup(void) {
    bn_outfile f;
    CHECK_OK(bn_outfile_open(&f, at("pending")));
    CHECK(temps_left() == 1, "the temporary file exists");
    bn_outfile_remove_temps(); /* what the CLI's SIGINT handler calls */
    CHECK(temps_left() == 0, "removed by the cleanup");
    bn_outfile_discard(&f);
    CHECK(access(at("pending"), F_OK) != 0, "the output was never created");
    /* finished files are out of the registry: the cleanup leaves them alone */
    CHECK_OK(write_text(at("done"), "kept"));
    bn_outfile_remove_temps();
    CHECK(has_text(at("done"), "kept"), "a committed file survives the cleanup");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/bn_outfile_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return bn_test_skip("test_outfile", "no temporary folder");
    test_symlinks();
    test_special_files();
    test_inputs();
    test_modes();
    test_failed_write();
    test_interrupt_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return bn_test_finish("test_outfile");
}
