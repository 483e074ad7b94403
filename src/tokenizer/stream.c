/*
 * stream.c - the streaming detokenizer: token pieces in, whole characters out.
 *
 * A generated token may end in the middle of a UTF-8 character (byte
 * fallback tokens, byte-level BPE), and a terminal or a JSON stream must
 * never see half a character. Each push appends the token's bytes to the
 * up-to-3 bytes held back last time and returns every complete character;
 * a valid but incomplete tail is held again. Bytes that can never form a
 * character (a stray continuation byte, a bad lead byte, a sequence cut
 * short by a byte that cannot continue it) come out as U+FFFD, one per
 * maximal invalid subpart, as Unicode recommends. flush turns a held tail
 * into U+FFFD and resets the stream.
 *
 * Buffers are sized once from the longest piece, so push never allocates.
 * A <0x00> byte token yields a NUL byte, which ends the returned C string.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tokenizer/tok_int.h"

struct tok_stream {
    const tokenizer *t;
    unsigned char *in; /* held bytes, then the new piece: max_piece + 3 */
    size_t n_held;
    char *out; /* at most 3 output bytes per input byte, plus NUL */
};

penny_status tok_stream_new(const tokenizer *t, tok_stream **out, penny_error *err) {
    *out = NULL;
    tok_stream *s = calloc(1, sizeof *s);
    size_t cap = (size_t)t->max_piece + 3;
    if (s) s->in = malloc(cap);
    if (s && s->in) s->out = malloc(3 * cap + 1);
    if (!s || !s->out) {
        tok_stream_free(s);
        return err_set(err, PENNY_ERR_NOMEM, "detokenizer: out of memory");
    }
    s->t = t;
    *out = s;
    return PENNY_OK;
}

void tok_stream_free(tok_stream *s) {
    if (!s) return;
    free(s->in);
    free(s->out);
    free(s);
}

/* Converts s->in[0..n) into s->out; an incomplete tail is held back, or,
 * when final, replaced. */
static const char *drain(tok_stream *s, size_t n, bool final) {
    size_t i = 0, o = 0;
    while (i < n) {
        int k = tok_utf8_next(s->in + i, n - i);
        if (k > 0) {
            memcpy(s->out + o, s->in + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else if (k == 0 && !final) {
            break;
        } else {
            memcpy(s->out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += k == 0 ? n - i : (size_t)-k;
        }
    }
    s->n_held = n - i;
    memmove(s->in, s->in + i, s->n_held);
    s->out[o] = '\0';
    return s->out;
}

const char *tok_stream_push(tok_stream *s, int32_t id) {
    const char *p;
    size_t n;
    tok_piece(s->t, id, &p, &n);
    memcpy(s->in + s->n_held, p, n);
    return drain(s, s->n_held + n, false);
}

const char *tok_stream_flush(tok_stream *s) { return drain(s, s->n_held, true); }
