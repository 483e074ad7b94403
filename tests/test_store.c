/*
 * test_store.c - the offline parts of the model store: REF parsing and the
 * name checks that keep files inside the store, split-part names, picking
 * files from a listing by quantization, the manifest (round trip and
 * tampered copies), the store's answers on an empty root, and split GGUF
 * models opened as one (tensors across parts, missing or inconsistent
 * parts). Downloads are tested end to end by tests/test_pull.sh.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "format/gguf.h"
#include "kernels/types.h"
#include "store/store.h"

static char g_dir[512];

static const char *scratch(const char *name) {
    static char buf[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* ---- REFs ---- */

static void test_ref_ok(void) {
    store_ref r;
    penny_error err = {0};
    CHECK(!store_ref_parse("org/repo", &r, &err) && !strcmp(r.org, "org") &&
          !strcmp(r.repo, "repo") && !r.quant[0] && !r.file[0]);
    CHECK(!store_ref_parse("hf.co/Org-1/Re.po_2:Q4_K_M", &r, &err) && !strcmp(r.org, "Org-1") &&
          !strcmp(r.repo, "Re.po_2") && !strcmp(r.quant, "Q4_K_M"));
    CHECK(!store_ref_parse("https://huggingface.co/o/r/sub/x-Q8_0.gguf", &r, &err) &&
          !strcmp(r.file, "sub/x-Q8_0.gguf") && !r.quant[0]);
    char buf[128];
    store_ref_format(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, "o/r/sub/x-Q8_0.gguf"));
    CHECK(!store_ref_parse("o/r:UD-Q4_K_XL", &r, &err) && !strcmp(r.quant, "UD-Q4_K_XL"));
    store_ref_format(&r, buf, sizeof buf);
    CHECK(!strcmp(buf, "o/r:UD-Q4_K_XL"));
}

static void test_ref_refused(void) {
    char long_org[120];
    memset(long_org, 'a', 97);
    strcpy(long_org + 97, "/repo");
    const char *bad[] = {"",
                         "org",
                         "/abs/x",
                         "../x",
                         "org/..",
                         "org/.x",
                         "./org/repo",
                         "org/repo/../x.gguf",
                         "org/repo/x.bin",
                         "org/re po",
                         "org/repo:",
                         "org/repo:Q4/K",
                         "org/repo/a//b.gguf",
                         "org/repo/a\\b.gguf",
                         "org/repo/.x.gguf",
                         "org\x01/repo",
                         "org/repo/x\x7f.gguf",
                         "org//repo",
                         "-org/repo",
                         "org/repo:Q4 K",
                         long_org,
                         "org/repo/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store_ref r;
        penny_error err = {0};
        CHECKF(store_ref_parse(bad[i], &r, &err) == PENNY_ERR_ARG && err.message[0],
               "accepted ref #%zu", i);
        /* messages never echo control bytes */
        for (const char *c = err.message; *c; c++) CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
    }
    CHECK(store_path_ok("a/b/c.gguf") && !store_path_ok("a/b/c.GGUF/") &&
          !store_path_ok("a/../c.gguf") && !store_path_ok("/c.gguf") &&
          !store_path_ok("a/b/c/d/e/f/g/h/i.gguf") && store_path_ok("x.GGUF"));
    CHECK(store_name_ok("Meta-Llama-3.1-8B") && !store_name_ok("a/b") && !store_name_ok(".."));
}

static void test_split_names(void) {
    int no, count;
    size_t stem;
    CHECK(store_split_name("m-00001-of-00003.gguf", &no, &count, &stem) && no == 1 && count == 3 &&
          stem == 1);
    CHECK(store_split_name("d/m-Q4-2-of-2.GGUF", &no, &count, &stem) && no == 2 && count == 2 &&
          stem == 6);
    CHECK(!store_split_name("m-00004-of-00003.gguf", &no, &count, &stem));
    CHECK(!store_split_name("m-00000-of-00003.gguf", &no, &count, &stem));
    CHECK(!store_split_name("m00001-of-00002.gguf", &no, &count, &stem));
    CHECK(!store_split_name("-00001-of-00002.gguf", &no, &count, &stem));
    CHECK(!store_split_name("m-00001-of-00002.bin", &no, &count, &stem));
}

/* ---- selection ---- */

/* Picks from names with ref text; writes picked names joined by ',' to out. */
static penny_status pick(const char *ref, const char *const *names, int n, char *out, size_t cap,
                         penny_error *err) {
    store_ref r;
    int picked[16], k = 0;
    out[0] = '\0';
    penny_status rc = store_ref_parse(ref, &r, err);
    if (!rc) rc = store_select(&r, names, n, picked, &k, err);
    for (int i = 0; !rc && i < k; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", names[picked[i]]);
    return rc;
}

static void test_select(void) {
    char got[512];
    penny_error err = {0};
    const char *a[] = {"README.md", "a-Q4_0.gguf", "a-Q8_0.gguf"};
    CHECK(!pick("o/r:Q8_0", a, 3, got, sizeof got, &err) && !strcmp(got, "a-Q8_0.gguf"));
    CHECK(!pick("o/r:q4_0", a, 3, got, sizeof got, &err) && !strcmp(got, "a-Q4_0.gguf"));
    CHECK(pick("o/r", a, 3, got, sizeof got, &err) == PENNY_ERR_ARG &&
          strstr(err.message, "a-Q4_0.gguf, a-Q8_0.gguf"));
    CHECK(pick("o/r:Q5_K", a, 3, got, sizeof got, &err) == PENNY_ERR_RANGE);
    CHECK(pick("o/r/b.gguf", a, 3, got, sizeof got, &err) == PENNY_ERR_RANGE &&
          strstr(err.message, "has no file 'b.gguf'"));

    const char *b[] = {"x-Q4_K_M.gguf", "x-Q4_K.gguf", "x-IQ4_K.gguf"};
    CHECK(!pick("o/r:Q4_K", b, 3, got, sizeof got, &err) && !strcmp(got, "x-Q4_K.gguf"));
    CHECK(!pick("o/r", b, 3, got, sizeof got, &err) && !strcmp(got, "x-Q4_K_M.gguf"));
    CHECK(!pick("o/r:iq4_k", b, 3, got, sizeof got, &err) && !strcmp(got, "x-IQ4_K.gguf"));

    const char *c[] = {"big-Q8_0-00002-of-00002.gguf", "big-Q8_0-00001-of-00002.gguf",
                       "mmproj-Q8_0.gguf"};
    CHECK(!pick("o/r:Q8_0", c, 3, got, sizeof got, &err) &&
          !strcmp(got, "big-Q8_0-00001-of-00002.gguf,big-Q8_0-00002-of-00002.gguf"));
    CHECK(!pick("o/r/big-Q8_0-00002-of-00002.gguf", c, 3, got, sizeof got, &err) &&
          !strcmp(got, "big-Q8_0-00001-of-00002.gguf,big-Q8_0-00002-of-00002.gguf"));
    CHECK(!pick("o/r/mmproj-Q8_0.gguf", c, 3, got, sizeof got, &err) &&
          !strcmp(got, "mmproj-Q8_0.gguf"));

    const char *d[] = {"big-00001-of-00003.gguf", "big-00003-of-00003.gguf"};
    CHECK(pick("o/r", d, 2, got, sizeof got, &err) == PENNY_ERR_FORMAT &&
          strstr(err.message, "part 2 of 3 is missing"));

    const char *e[] = {"Q4_K_M/x-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/x-Q4_K_M-00002-of-00002.gguf",
                       "Q8_0/x-Q8_0.gguf"};
    CHECK(!pick("o/r:Q4_K_M", e, 3, got, sizeof got, &err) &&
          !strcmp(got, "Q4_K_M/x-Q4_K_M-00001-of-00002.gguf,Q4_K_M/x-Q4_K_M-00002-of-00002.gguf"));
    CHECK(!pick("o/r", e, 3, got, sizeof got, &err) && strstr(got, "Q4_K_M/") == got);

    const char *f[] = {"mmproj-f16.gguf"};
    CHECK(!pick("o/r", f, 1, got, sizeof got, &err) && !strcmp(got, "mmproj-f16.gguf"));
    const char *g[] = {"m-Q4_K_M.gguf", "n-Q4_K_M.gguf"};
    CHECK(pick("o/r", g, 2, got, sizeof got, &err) == PENNY_ERR_ARG &&
          strstr(err.message, "several models match"));
    CHECK(pick("o/r", g, 0, got, sizeof got, &err) == PENNY_ERR_RANGE);
}

/* ---- manifest ---- */

static void put_file(int dirfd, const char *name, const char *text) {
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    if (fd >= 0) close(fd);
}

static void test_manifest(void) {
    mkdir(scratch("repo"), 0755);
    int fd = open(scratch("repo"), O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    unlinkat(fd, "manifest.json", 0);
    store_manifest m;
    penny_error err = {0};
    CHECK(!store_manifest_read(fd, &m, &err) && m.n == 0);
    store_entry e = {"sub/a-Q8_0.gguf", 9007199254740991ull, ""};
    memset(e.sha256, 'a', 64);
    CHECK(!store_manifest_update(fd, &e, NULL, 0, NULL, &err));
    strcpy(e.path, "b.gguf");
    e.size = 7;
    int left = -1;
    CHECK(!store_manifest_update(fd, &e, NULL, 0, &left, &err) && left == 2);
    CHECK(!store_manifest_read(fd, &m, &err) && m.n == 2);
    const store_entry *got = store_manifest_get(&m, "sub/a-Q8_0.gguf");
    CHECK(got && got->size == 9007199254740991ull && got->sha256[63] == 'a');
    store_manifest_free(&m);
    const char *drop[] = {"sub/a-Q8_0.gguf"};
    CHECK(!store_manifest_update(fd, NULL, drop, 1, &left, &err) && left == 1);
    CHECK(!store_manifest_update(fd, NULL, (const char *[]){"b.gguf"}, 1, &left, &err) && !left);
    CHECK(faccessat(fd, "manifest.json", F_OK, 0) != 0); /* an empty manifest is removed */

    static const char *tampered[] = {
        "{\"files\": [{\"path\": \"../x.gguf\", \"size\": 1, \"sha256\": \"" /* escape */
        "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
        "{\"files\": [{\"path\": \"x.gguf\", \"size\": 1, \"sha256\": \"XYZ\"}]}",
        "{\"files\": [{\"path\": \"x.gguf\", \"size\": -1, \"sha256\": \""
        "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
        "{\"files\": [{\"path\": \"/etc/x.gguf\", \"size\": 1, \"sha256\": \""
        "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
        "not json",
        "[]"};
    for (size_t i = 0; i < sizeof tampered / sizeof tampered[0]; i++) {
        put_file(fd, "manifest.json", tampered[i]);
        CHECKF(store_manifest_read(fd, &m, &err) == PENNY_ERR_FORMAT, "tampered manifest %zu", i);
    }
    unlinkat(fd, "manifest.json", 0);
    close(fd);
}

/* ---- the store on an empty root ---- */

static void count_entry(void *user, const penny_store_entry *e) {
    (void)e;
    ++*(int *)user;
}

static void test_empty_store(void) {
    penny_store *s;
    penny_error err = {0};
    char path[512];
    int n = 0;
    CHECK(!penny_store_open(scratch("no-store"), &s, &err));
    CHECK(!strcmp(penny_store_root(s), scratch("no-store")));
    CHECK(!penny_store_list(s, count_entry, &n, &err) && n == 0);
    CHECK(penny_store_resolve(s, "o/r:Q8_0", path, sizeof path, &err) == PENNY_ERR_RANGE &&
          strstr(err.message, "not in the model store") &&
          strstr(err.message, "penny pull o/r:Q8_0"));
    CHECK(penny_store_rm(s, "o/r", &n, &err) == PENNY_ERR_RANGE && n == 0);
    CHECK(penny_store_resolve(s, "../x", path, sizeof path, &err) == PENNY_ERR_ARG);
    struct stat st;
    CHECK(stat(scratch("no-store"), &st) != 0); /* nothing was created */
    penny_store_free(s);
    penny_store_free(NULL);
    /* an existing file is used as is, even one whose name reads like a REF */
    mkdir(scratch("org"), 0755);
    mkdir(scratch("org/repo"), 0755);
    FILE *f = fopen(scratch("org/repo/x.gguf"), "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(chdir(g_dir) == 0);
    CHECK(!penny_resolve_model("org/repo/x.gguf", path, sizeof path, &err) &&
          !strcmp(path, "org/repo/x.gguf"));
    CHECK(penny_resolve_model("no such file", path, sizeof path, &err) == PENNY_ERR_IO &&
          strstr(err.message, "no such file"));
}

/* ---- split GGUF ---- */

static float g_data[4][8];

/* A little model: tensors t0..t3 (F32, 8 values each) and one metadata key. */
static gguf_writer *little_model(int first, int last) {
    gguf_writer *w;
    penny_error err = {0};
    if (gguf_writer_new(&w, &err)) return NULL;
    gguf_writer_set_str(w, "general.name", "little");
    int64_t ne[1] = {8};
    for (int t = first; t < last && t < 4; t++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", t);
        for (int i = 0; i < 8; i++) g_data[t][i] = (float)(t * 10 + i);
        gguf_writer_add_tensor(w, name, TYPE_F32, 1, ne, g_data[t]);
    }
    return w;
}

static void test_split_gguf(void) {
    penny_error err = {0};
    gguf_writer *w = little_model(0, 4);
    CHECK(w && !gguf_writer_save(w, scratch("little.gguf"), &err));
    gguf_writer_free(w);
    gguf_file *g;
    CHECK(!gguf_open(scratch("little.gguf"), false, &g, &err));
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s", scratch("split-a"));
    CHECK(!gguf_split_write(g, 3, prefix, &err));
    CHECK(gguf_split_write(g, 5, prefix, &err) == PENNY_ERR_ARG); /* more parts than tensors */
    gguf_close(g);

    gguf_split *s;
    CHECK(!gguf_split_open(scratch("split-a-00003-of-00003.gguf"), false, &s, &err));
    if (s) {
        CHECK(gguf_split_count(s) == 3 && gguf_split_tensor_count(s) == 4);
        for (int t = 0; t < 4; t++) {
            char name[32];
            snprintf(name, sizeof name, "t%d", t);
            const gguf_tensor *x = gguf_split_find_tensor(s, name);
            CHECK(x && x->nbytes == 32 && !memcmp(x->data, g_data[t], 32));
        }
        CHECK(!gguf_split_find_tensor(s, "t4"));
        CHECK(gguf_find(gguf_split_part(s, 0), "general.name") &&
              !gguf_find(gguf_split_part(s, 1), "general.name"));
        gguf_split_close(s);
    }
    CHECK(!gguf_split_open(scratch("little.gguf"), false, &s, &err) && gguf_split_count(s) == 1);
    gguf_split_close(s);

    /* a missing part is named */
    rename(scratch("split-a-00002-of-00003.gguf"), scratch("moved.gguf"));
    CHECK(gguf_split_open(scratch("split-a-00001-of-00003.gguf"), false, &s, &err) &&
          strstr(err.message, "part 2 of 3") && strstr(err.message, "split-a-00002-of-00003.gguf"));
    /* a part of another split (2 parts) in its place: split.count disagrees */
    g = NULL;
    CHECK(!gguf_open(scratch("little.gguf"), false, &g, &err) &&
          !gguf_split_write(g, 2, scratch("split-b"), &err));
    gguf_close(g);
    rename(scratch("split-b-00002-of-00002.gguf"), scratch("split-a-00002-of-00003.gguf"));
    CHECK(gguf_split_open(scratch("split-a-00001-of-00003.gguf"), false, &s, &err) ==
              PENNY_ERR_FORMAT &&
          strstr(err.message, "expected part 1 of 3"));
    /* renamed so that its name no longer tells where the other parts are */
    rename(scratch("split-a-00003-of-00003.gguf"), scratch("renamed.gguf"));
    CHECK(gguf_split_open(scratch("renamed.gguf"), false, &s, &err) == PENNY_ERR_FORMAT &&
          strstr(err.message, "-00003-of-00003.gguf"));
}

static void test_split_duplicates(void) {
    penny_error err = {0};
    gguf_split *s;
    for (int i = 0; i < 2; i++) { /* both parts hold t0..t1 */
        gguf_writer *w = little_model(0, 2);
        gguf_value no = {.type = GGUF_U16, .v.u = (uint64_t)i}, cnt = {.type = GGUF_U16, .v.u = 2};
        gguf_writer_set_value(w, "split.no", &no);
        gguf_writer_set_value(w, "split.count", &cnt);
        gguf_writer_set_i32(w, "split.tensors.count", 4);
        char name[32];
        snprintf(name, sizeof name, "dup-%05d-of-00002.gguf", i + 1);
        CHECK(!gguf_writer_save(w, scratch(name), &err));
        gguf_writer_free(w);
    }
    CHECK(gguf_split_open(scratch("dup-00001-of-00002.gguf"), false, &s, &err) ==
              PENNY_ERR_FORMAT &&
          strstr(err.message, "tensor 't0' is also in"));
    gguf_writer *w = little_model(0, 3);
    gguf_writer_set_i32(w, "split.tensors.count", 5);
    CHECK(!gguf_writer_save(w, scratch("count.gguf"), &err));
    gguf_writer_free(w);
    CHECK(gguf_split_open(scratch("count.gguf"), false, &s, &err) == PENNY_ERR_FORMAT &&
          strstr(err.message, "split.tensors.count is 5 but the parts hold 3"));
}

int main(void) {
    const char *b = getenv("PENNY_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/tests/store", b ? b : "build");
    mkdir(g_dir, 0755);
    char abs[PATH_MAX];
    if (realpath(g_dir, abs))
        snprintf(g_dir, sizeof g_dir, "%.500s", abs); /* the test changes directory */
    test_ref_ok();
    test_ref_refused();
    test_split_names();
    test_select();
    test_manifest();
    test_empty_store();
    test_split_gguf();
    test_split_duplicates();
    return check_done("test_store");
}
