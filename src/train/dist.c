/*
 * dist.c - the all-reduce behind data-parallel training (see dist.h).
 *
 * Built two ways from this one file: without PENNY_MPI every call is the
 * identity for one process; with PENNY_MPI (build/penny-mpi, compiled by
 * mpicc) sums go through MPI_Allreduce on MPI_COMM_WORLD. Buffers larger
 * than an int's count are reduced in pieces.
 */
#include "train/dist.h"

#include "base/err.h"

#ifdef PENNY_MPI
#include <limits.h>
#include <mpi.h>

static int started_here;

penny_status tr_dist_init(int *rank, int *world, penny_error *err) {
    int up = 0;
    MPI_Initialized(&up);
    if (!up) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
            return err_set(err, PENNY_ERR_UNSUPPORTED, "MPI_Init failed");
        started_here = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, world);
    return PENNY_OK;
}

static void sum(void *x, size_t n, MPI_Datatype t, size_t size) {
    for (size_t done = 0; done < n;) {
        int k = n - done > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)(n - done);
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + done * size, k, t, MPI_SUM, MPI_COMM_WORLD);
        done += (size_t)k;
    }
}

void tr_dist_sum_f32(float *x, size_t n) { sum(x, n, MPI_FLOAT, sizeof *x); }
void tr_dist_sum_f64(double *x, size_t n) { sum(x, n, MPI_DOUBLE, sizeof *x); }

void tr_dist_finish(void) {
    if (started_here) MPI_Finalize();
    started_here = 0;
}

const char *tr_dist_backend(void) { return "Open MPI"; }

#else

penny_status tr_dist_init(int *rank, int *world, penny_error *err) {
    (void)err;
    *rank = 0;
    *world = 1;
    return PENNY_OK;
}

void tr_dist_sum_f32(float *x, size_t n) { (void)x, (void)n; }
void tr_dist_sum_f64(double *x, size_t n) { (void)x, (void)n; }
void tr_dist_finish(void) {}
const char *tr_dist_backend(void) { return "none"; }

#endif
