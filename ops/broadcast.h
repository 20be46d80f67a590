/* broadcast.h: NumPy broadcasting of two operands onto one output, padded to 4 dims.
 * sa/sb are element strides into a and b for each output dim, 0 where the operand is
 * stretched. Used by the binary ops and masked_fill. */
#ifndef TG_BROADCAST_H
#define TG_BROADCAST_H

#include <stdint.h>

#include "graph/tensor.h"

typedef struct tg_bcast {
    int shape[TG_MAX_DIMS]; /* output shape, left-padded with 1s to 4 dims */
    int64_t sa[TG_MAX_DIMS], sb[TG_MAX_DIMS];
    int ndim;               /* the output's real ndim */
} tg_bcast;

/* Fills bc for a (op) b; returns 0, or -1 when a dim differs and neither is 1. */
static inline int tg_bcast_init(tg_bcast *bc, const tg_tensor *a, const tg_tensor *b)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    bc->ndim = nd;
    int64_t st_a = 1, st_b = 1;
    for (int k = TG_MAX_DIMS - 1; k >= 0; k--) {
        int ia = k - (TG_MAX_DIMS - a->ndim), ib = k - (TG_MAX_DIMS - b->ndim);
        int da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        bc->shape[k] = da > db ? da : db;
        bc->sa[k] = da == 1 ? 0 : st_a;
        bc->sb[k] = db == 1 ? 0 : st_b;
        st_a *= da;
        st_b *= db;
    }
    return 0;
}

/* Calls BODY(o, ia, ib) for every output element o with its a and b offsets, in
 * row-major order. */
#define TG_BCAST_LOOP(bc, BODY)                                                      \
    do {                                                                             \
        int64_t o_ = 0;                                                              \
        for (int i0 = 0; i0 < (bc)->shape[0]; i0++)                                  \
            for (int i1 = 0; i1 < (bc)->shape[1]; i1++)                              \
                for (int i2 = 0; i2 < (bc)->shape[2]; i2++) {                        \
                    int64_t ba_ = i0 * (bc)->sa[0] + i1 * (bc)->sa[1] + i2 * (bc)->sa[2]; \
                    int64_t bb_ = i0 * (bc)->sb[0] + i1 * (bc)->sb[1] + i2 * (bc)->sb[2]; \
                    int64_t sa3_ = (bc)->sa[3], sb3_ = (bc)->sb[3];                  \
                    for (int i3 = 0; i3 < (bc)->shape[3]; i3++, o_++) {              \
                        int64_t ia = ba_ + i3 * sa3_, ib = bb_ + i3 * sb3_;          \
                        BODY(o_, ia, ib);                                            \
                    }                                                                \
                }                                                                    \
    } while (0)

#endif
