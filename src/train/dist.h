/*
 * dist.h - data-parallel training across processes with Open MPI.
 *
 * Each rank computes gradients on its slice of the global batch; the sum
 * over ranks (an all-reduce) gives every rank the full batch's gradient,
 * so all ranks take identical optimizer steps. dist.c without PENNY_MPI
 * (the default build) is a single-process stand-in with the same
 * signatures; `make mpi` compiles it with PENNY_MPI into build/penny-mpi.
 */
#ifndef PENNY_TRAIN_DIST_H
#define PENNY_TRAIN_DIST_H

#include <stddef.h>

#include "penny.h"

/* Starts MPI when built with it and launched by mpirun; rank 0 of 1 otherwise. */
penny_status tr_dist_init(int *rank, int *world, penny_error *err);
void tr_dist_sum_f32(float *x, size_t n);
void tr_dist_sum_f64(double *x, size_t n);
void tr_dist_finish(void);
/* "Open MPI" or "none". */
const char *tr_dist_backend(void);

#endif
