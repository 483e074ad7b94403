/*
 * plot.h - the loss curve as a PNG picture, drawn and encoded here (a small
 * raster, uncompressed deflate blocks), so a run leaves something a person
 * can open without any plotting tool installed.
 */
#ifndef PENNY_TRAIN_PLOT_H
#define PENNY_TRAIN_PLOT_H

#include "penny.h"

/* hist: n rows of (step, train loss, lr, grad norm, eval loss, eval bpb);
 * NaN eval entries are skipped. Train loss is drawn as a blue line, eval
 * loss as orange dots, with labelled axes. */
penny_status tr_plot_png(const char *path, const double *hist, long n, int fields,
                         penny_error *err);

/* Encodes an RGB image (w*h*3 bytes) as PNG. */
penny_status tr_png_write(const char *path, const unsigned char *rgb, int w, int h,
                          penny_error *err);

#endif
