/* registry.c: the table of every op, indexed by tg_op_id, generated from TG_OP_LIST
 * so that the enum and the table cannot drift apart. */
#include "ops/op.h"

const tg_op_desc *const tg_op_registry[TG_OP_COUNT] = {
#define TG_X(U, l) [TG_OP_##U] = &tg_op_##l##_desc,
    TG_OP_LIST(TG_X)
#undef TG_X
};

_Static_assert(sizeof tg_op_registry / sizeof tg_op_registry[0] == TG_OP_COUNT,
               "one registry entry per op");
