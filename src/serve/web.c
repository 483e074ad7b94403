/*
 * web.c - the table of embedded web files. web_assets.h is generated from
 * web/ by the build (see the Makefile); each file F.EXT there becomes a
 * static array F_EXT.
 */
#include "serve/web.h"

#include <string.h>

#include "web_assets.h"

static const web_asset assets[] = {
    {"/", "text/html; charset=utf-8", index_html, sizeof index_html},
    {"/index.html", "text/html; charset=utf-8", index_html, sizeof index_html},
    {"/app.js", "text/javascript; charset=utf-8", app_js, sizeof app_js},
    {"/style.css", "text/css; charset=utf-8", style_css, sizeof style_css},
};

const web_asset *web_find(const char *url) {
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++)
        if (!strcmp(url, assets[i].path)) return &assets[i];
    return NULL;
}
