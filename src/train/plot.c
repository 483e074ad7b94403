/*
 * plot.c - loss curve rasteriser and a minimal PNG encoder (see plot.h).
 *
 * PNG needs a zlib stream; stored (uncompressed) deflate blocks are valid
 * zlib, so the encoder is just framing: CRC-32 per chunk and Adler-32 over
 * the raw scanlines. A 640x400 plot is under 800 KB that way.
 */
#include "train/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define W 640
#define H 400
#define ML 56 /* left margin (y labels) */
#define MB 28 /* bottom margin (x labels) */
#define MT 12
#define MR 16

/* ---- PNG ---- */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc(uint32_t c, const unsigned char *p, size_t n) {
    c = ~c;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static bool chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char len[4], tail[4];
    be32(len, n);
    uint32_t c = crc(crc(0, (const unsigned char *)type, 4), data, n);
    be32(tail, c);
    return fwrite(len, 1, 4, f) == 4 && fwrite(type, 1, 4, f) == 4 &&
           (n == 0 || fwrite(data, 1, n, f) == n) && fwrite(tail, 1, 4, f) == 4;
}

/* zlib stream of stored blocks around the filtered scanlines. */
static unsigned char *zlib_stored(const unsigned char *rgb, int w, int h, uint32_t *out_n) {
    size_t raw = (size_t)h * (1 + (size_t)w * 3), blocks = raw / 65535 + 1;
    unsigned char *z = malloc(2 + raw + blocks * 5 + 4), *p = z;
    if (!z) return NULL;
    *p++ = 0x78, *p++ = 0x01;
    uint32_t a = 1, b = 0;
    size_t done = 0, row_len = 1 + (size_t)w * 3;
    while (done < raw) {
        size_t n = raw - done < 65535 ? raw - done : 65535;
        *p++ = done + n == raw ? 1 : 0;
        *p++ = (unsigned char)n, *p++ = (unsigned char)(n >> 8);
        *p++ = (unsigned char)~n, *p++ = (unsigned char)(~n >> 8);
        for (size_t i = 0; i < n; i++, done++) {
            size_t r = done / row_len, c = done % row_len;
            unsigned char v = c == 0 ? 0 : rgb[r * (size_t)w * 3 + c - 1];
            *p++ = v;
            a = (a + v) % 65521, b = (b + a) % 65521;
        }
    }
    be32(p, b << 16 | a);
    *out_n = (uint32_t)(p + 4 - z);
    return z;
}

penny_status tr_png_write(const char *path, const unsigned char *rgb, int w, int h,
                          penny_error *err) {
    crc_init();
    uint32_t zn;
    unsigned char *z = zlib_stored(rgb, w, h, &zn);
    if (!z) return err_set(err, PENNY_ERR_NOMEM, "plot: out of memory");
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(z);
        return err_set(err, PENNY_ERR_IO, "%s: cannot create", path);
    }
    unsigned char ihdr[13] = {0};
    be32(ihdr, (uint32_t)w), be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2; /* 8-bit RGB */
    bool ok = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) &&
              chunk(f, "IDAT", z, zn) && chunk(f, "IEND", NULL, 0);
    ok = fclose(f) == 0 && ok;
    free(z);
    return ok ? PENNY_OK : err_set(err, PENNY_ERR_IO, "%s: write failed", path);
}

/* ---- drawing ---- */

typedef struct canvas {
    unsigned char px[H][W][3];
} canvas;

static void dot(canvas *c, int x, int y, const unsigned char *rgb) {
    if (x >= 0 && x < W && y >= 0 && y < H) memcpy(c->px[y][x], rgb, 3);
}

static void line(canvas *c, int x0, int y0, int x1, int y1, const unsigned char *rgb) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int e = dx + dy;;) {
        dot(c, x0, y0, rgb);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) e += dy, x0 += sx;
        if (e2 <= dx) e += dx, y0 += sy;
    }
}

/* 3x5 glyphs for 0-9 and '.', one row of 3 bits per entry. */
static const unsigned char FONT[11][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7},
                                          {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
                                          {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7},
                                          {7, 5, 7, 1, 7}, {0, 0, 0, 0, 2}};

/* Text of digits and dots, 2x scale, left edge at x, top at y. */
static void text(canvas *c, int x, int y, const char *s) {
    static const unsigned char ink[3] = {60, 60, 60};
    for (; *s; s++, x += 8) {
        int g = *s == '.' ? 10 : *s - '0';
        if (g < 0 || g > 10) continue;
        for (int r = 0; r < 10; r++)
            for (int k = 0; k < 6; k++)
                if (FONT[g][r / 2] >> (2 - k / 2) & 1) dot(c, x + k, y + r, ink);
    }
}

static void axes(canvas *c, double x_max, double y_min, double y_max) {
    static const unsigned char grid[3] = {225, 225, 225}, axis[3] = {120, 120, 120};
    char buf[32];
    for (int i = 0; i <= 4; i++) {
        int y = MT + (H - MT - MB) * i / 4, x = ML + (W - ML - MR) * i / 4;
        line(c, ML, y, W - MR, y, grid);
        line(c, x, MT, x, H - MB, grid);
        snprintf(buf, sizeof buf, "%.2f", y_max - (y_max - y_min) * i / 4);
        text(c, 4, y - 5, buf);
        snprintf(buf, sizeof buf, "%.0f", x_max * i / 4);
        text(c, x - 4 * (int)strlen(buf), H - MB + 8, buf);
    }
    line(c, ML, MT, ML, H - MB, axis);
    line(c, ML, H - MB, W - MR, H - MB, axis);
}

penny_status tr_plot_png(const char *path, const double *hist, long n, int fields,
                         penny_error *err) {
    canvas *c = malloc(sizeof *c);
    if (!c) return err_set(err, PENNY_ERR_NOMEM, "plot: out of memory");
    memset(c, 255, sizeof *c);
    double x_max = 1, y_min = INFINITY, y_max = -INFINITY;
    for (long i = 0; i < n; i++) {
        const double *r = hist + i * fields;
        x_max = fmax(x_max, r[0]);
        for (int k = 1; k <= 4; k += 3)
            if (isfinite(r[k])) y_min = fmin(y_min, r[k]), y_max = fmax(y_max, r[k]);
    }
    if (!(y_max > y_min)) y_min = isfinite(y_min) ? y_min - 1 : 0, y_max = y_min + 2;
    axes(c, x_max, y_min, y_max);
    static const unsigned char blue[3] = {31, 119, 180}, orange[3] = {255, 127, 14};
    int px = -1, py = -1;
    for (long i = 0; i < n; i++) {
        const double *r = hist + i * fields;
        int x = ML + (int)((W - ML - MR) * r[0] / x_max);
        for (int k = 1; k <= 4; k += 3) {
            if (!isfinite(r[k])) continue;
            int y = MT + (int)((H - MT - MB) * (y_max - r[k]) / (y_max - y_min));
            if (k == 1 && px >= 0) line(c, px, py, x, y, blue);
            if (k == 1) px = x, py = y;
            for (int d = -2; d <= 2 && k == 4; d++) line(c, x - 2, y + d, x + 2, y + d, orange);
        }
    }
    penny_status rc = tr_png_write(path, &c->px[0][0][0], W, H, err);
    free(c);
    return rc;
}
