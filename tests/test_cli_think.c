/*
 * test_cli_think.c - the <think> splitter of `penny chat` (cli/think.c):
 * reasoning and answer come apart even when the tags are split over
 * tokens, and text that only looks like the start of a tag is held back,
 * then released, never lost. The splitter is CLI code, not libpenny's, so
 * the test compiles it in.
 */
#include <string.h>

#include "../cli/think.c"
#include "check.h"

typedef struct think_log {
    char answer[128], thought[128];
    int enters;
} think_log;

static void collect(void *user, bool inside, bool enter, const char *s, size_t n) {
    think_log *l = user;
    if (enter) l->enters++;
    char *dst = inside ? l->thought : l->answer;
    strncat(dst, s, n);
}

static void test_split_tags(void) {
    const char *pieces[] = {"<thi", "nk>Let me", " see</th", "ink>The answer", " is <", "b>4"};
    think_state t = {0};
    think_log l = {0};
    for (int i = 0; i < 6; i++) think_feed(&t, pieces[i], strlen(pieces[i]), collect, &l);
    think_flush(&t, collect, &l);
    CHECKF(!strcmp(l.thought, "Let me see"), "thought '%s'", l.thought);
    CHECKF(!strcmp(l.answer, "The answer is <b>4"), "answer '%s'", l.answer);
    CHECK(l.enters == 1);
}

static void test_no_tags(void) {
    think_state t = {0};
    think_log l = {0};
    think_feed(&t, "no tags <thin", 13, collect, &l);
    CHECKF(!strcmp(l.answer, "no tags "), "before flush '%s'", l.answer); /* "<thin" held */
    think_flush(&t, collect, &l);
    CHECK(!strcmp(l.answer, "no tags <thin") && !l.thought[0] && !l.enters);
}

/* One byte at a time, two sections: every boundary falls inside a tag. */
static void test_byte_by_byte(void) {
    const char *text = "<think>a</think>b<think>c</think>d";
    think_state t = {0};
    think_log l = {0};
    for (size_t i = 0; text[i]; i++) think_feed(&t, text + i, 1, collect, &l);
    think_flush(&t, collect, &l);
    CHECKF(!strcmp(l.thought, "ac") && !strcmp(l.answer, "bd"), "thought '%s' answer '%s'",
           l.thought, l.answer);
    CHECK(l.enters == 2);
}

int main(void) {
    test_split_tags();
    test_no_tags();
    test_byte_by_byte();
    return check_done("test_cli_think");
}
