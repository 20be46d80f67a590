/* op.h: what an op file defines, for the registry, the dispatcher and the tests.
 *
 * Each op file holds, in order: the math, the shape rule (check), the forward kernel,
 * the backward kernel (+= into input gradients), and the descriptor with its gradient
 * test spec. The file is compiled twice (CMake: TG_REAL_DOUBLE=0 and 1): kernels are
 * written once in terms of `real` and named with TG_K(name) -> name_f32 / name_f64;
 * everything that must exist once (check, descriptor, typed wrapper) sits in
 * `#if TG_ONCE` blocks. <tgmath.h> makes exp/tanh/... pick the float or double form. */
#ifndef TG_OP_H
#define TG_OP_H

#include <stddef.h>
#include <omp.h>
#include <stdint.h>
#include <tgmath.h>

#include "graph/tape.h"
#include "ops/ops.h"

#if TG_REAL_DOUBLE
typedef double real;
#define TG_K(name) name##_f64
#define TG_ONCE 0
#else
typedef float real;
#define TG_K(name) name##_f32
#define TG_ONCE 1

#endif

/* Declares both compiled forms of a kernel, and names them for a descriptor. */
#define TG_KERNEL_DECL(name) void name##_f32(tg_node *n); void name##_f64(tg_node *n)
#define TG_KERNELS(name) { name##_f32, name##_f64 }

#define TG_OP_MAX_IN 8

/* What an input is. */
enum {
    TG_ARG_REAL = 0, /* real-valued, differentiable */
    TG_ARG_CONST,    /* real-valued, no gradient flows into it (masks) */
    TG_ARG_IDS,      /* i32 ids or targets */
};

/* One gradient-test case: inputs drawn at random from the given shapes and domains. */
typedef struct tg_test_arg {
    int ndim;
    int shape[TG_MAX_DIMS];
    double lo, hi; /* real: uniform in [lo,hi]; ids: integers in [lo,hi) ; const: 0/1 mask if lo=hi=0 */
} tg_test_arg;

typedef struct tg_op_test {
    const char *what;          /* e.g. "row-vector bias" */
    int n_in;
    tg_test_arg in[TG_OP_MAX_IN];
    tg_attrs a;
    int n_kinks;               /* inputs are drawn at least 1e-2 away from these points */
    double kinks[2];
} tg_op_test;

typedef struct tg_op_desc {
    const char *name;
    const char *math;          /* one line, for docs and messages */
    int n_in_min, n_in_max;
    uint8_t in_kind[TG_OP_MAX_IN]; /* TG_ARG_*, per input position (last one repeats) */
    int view;                  /* 1: the output shares input 0's data (no forward copy) */
    /* Or, for an op whose output is sometimes a run of input 0's data (a slice of
     * contiguous rows): the element offset of that run, -1 when it must copy. The
     * forward kernel then finds its output already in place. NULL: never. */
    int64_t (*view_at)(const tg_node *n);
    /* Bit i: backward writes every element of input i's gradient outright (=) when
     * the node's `fresh` bit i says the buffer is new and unzeroed (graph/tape.h). */
    uint64_t assigns;
    /* i + 1: input i's gradient is the output's, element for element (tg_node.pass;
     * check may set n->pass itself, as matmul does for its residual); 0: none */
    int pass;
    /* Validates inputs and attributes and sets out->ndim/shape; returns 0 or the status
     * it recorded in err (naming the op and the shapes). May read input data. */
    int (*check)(tg_node *n, tg_tensor *out, tg_error *err);
    /* Elements of `real` the op saves for backward (n->saved), or NULL for none. */
    int64_t (*saved)(const tg_node *n);
    tg_kernel_fn forward[2];   /* [0] f32, [1] f64 */
    tg_kernel_fn backward[2];  /* NULL only when no input is differentiable */
    const tg_op_test *tests;
    int n_tests;
} tg_op_desc;

/* The registry, indexed by tg_op_id (ops/registry.c). */
extern const tg_op_desc *const tg_op_registry[TG_OP_COUNT];

#define TG_X(U, l) extern const tg_op_desc tg_op_##l##_desc;
TG_OP_LIST(TG_X)
#undef TG_X

/* Shape-check helpers (ops/apply.c): they record "name: msg" errors. */
int tg_check_fail(tg_error *err, tg_status code, const tg_node *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))

#endif
    ;
/* Normalises axis (negative counts from the end) into [0, ndim); -1 if out of range. */
int tg_axis(int axis, int ndim);

/* Parallelise a loop when it is at least this many elements. */
#define TG_PAR_MIN 32768

/* Inside a parallel region (a trainer's shard on its thread), a loop of at least
 * TG_TASK_MIN elements runs as OpenMP tasks over fixed ranges instead of inline: a
 * thread of the team that has finished its own shard takes some of them from its
 * barrier, so that shards on cores of uneven speed end together. A task costs about a
 * µs: one per TG_TASK_MIN / 2 elements, 2 to TG_TASKS of them. The ranges depend on the
 * sizes alone, so the result does not depend on which thread runs which. Below it, and
 * outside parallel regions, the macros below behave as described at each. */
#define TG_TASK_MIN (4 * TG_PAR_MIN)
#define TG_TASKS 8
#define TG_IN_TEAM() (omp_in_parallel() && omp_get_num_threads() > 1) /* others could help */
#define TG_TASKED(n) ((n) >= TG_TASK_MIN && TG_IN_TEAM())
#define TG_N_TASKS(work) ((work) >= TG_TASKS * (TG_TASK_MIN / 2) ? TG_TASKS : (int)((work) / (TG_TASK_MIN / 2)))

/* Counts one task run (see tg_task_counts in ops.h); creator: the thread number of the
 * thread that made it. Call it first thing in each task. */
void tg_task_ran(int creator);

/* { int64_t lo, hi; body } for NT tasks that cover [0, N). default(shared): the
 * tasks end before the macro does (taskloop's implicit taskgroup), so the caller's
 * variables outlive them; and clang 14 crashes on a function pointer captured
 * firstprivate. The unsigned counter: clang warns (-Wsign-compare) on a signed one. */
#define TG_TASK_RANGES(lo, hi, N, NT, ...)                                       \
    do {                                                                         \
        int64_t nn_ = (N), nt_ = (NT);                                           \
        int me_ = omp_get_thread_num();                                          \
        _Pragma("omp taskloop grainsize(1) default(shared)")                     \
        for (uint64_t c_ = 0; c_ < (uint64_t)nt_; c_++) {                        \
            tg_task_ran(me_);                                                    \
            int64_t lo = nn_ * (int64_t)c_ / nt_, hi = nn_ * (int64_t)(c_ + 1) / nt_; \
            (void)hi; /* (NT = N: one item a task, hi = lo + 1) */               \
            __VA_ARGS__;                                                         \
        }                                                                        \
    } while (0)

/* for (int64_t i = 0; i < N; i++) { body }: across threads when N > TG_PAR_MIN, else
 * inline. Use it for elementwise loops in which no two iterations write one element.
 * (An OpenMP `if` clause is not enough: a disabled parallel region still costs a
 * runtime call and a futex, hundreds of ns on a tiny tensor.) */
#define TG_FOR(i, N, ...)                                                       \
    do {                                                                        \
        int64_t n_ = (N);                                                       \
        if (TG_TASKED(n_)) {                                                    \
            TG_TASK_RANGES(lo_, hi_, n_, TG_N_TASKS(n_),                        \
                _Pragma("omp simd") for (int64_t i = lo_; i < hi_; i++) { __VA_ARGS__; }); \
        } else if (n_ > TG_PAR_MIN) {                                           \
            _Pragma("omp parallel for simd") for (int64_t i = 0; i < n_; i++) { \
                __VA_ARGS__;                                                    \
            }                                                                   \
        } else {                                                                \
            _Pragma("omp simd") for (int64_t i = 0; i < n_; i++) { __VA_ARGS__; } \
        }                                                                       \
    } while (0)

/* for (int64_t i = 0; i < N; i++) { body }, the iterations spread over threads when
 * `work` (elements touched) exceeds TG_PAR_MIN; iterations must write disjoint memory.
 * For loops over rows or blocks, where N alone says little about the cost. `body` may
 * use `continue`, and `_Pragma("omp simd")` for an inner loop (not `#pragma`: it is a
 * macro argument). No `if` clause, for the reason given at TG_FOR. */
#define TG_PARALLEL_FOR(i, N, work, ...)                                        \
    do {                                                                        \
        int64_t n_ = (N);                                                       \
        int64_t w_ = (work);                                                    \
        if (TG_TASKED(w_) && n_ >= TG_N_TASKS(w_)) {                            \
            TG_TASK_RANGES(lo_, hi_, n_, TG_N_TASKS(w_), for (int64_t i = lo_; i < hi_; i++) { __VA_ARGS__; }); \
        } else if (w_ > TG_PAR_MIN) {                                           \
            _Pragma("omp parallel for") for (int64_t i = 0; i < n_; i++) {      \
                __VA_ARGS__;                                                    \
            }                                                                   \
        } else {                                                                \
            for (int64_t i = 0; i < n_; i++) { __VA_ARGS__; }                   \
        }                                                                       \
    } while (0)

/* { int64_t lo, hi; body } over [0, N): split into one contiguous range per thread
 * when N > TG_PAR_MIN (TG_N_TASKS ranges in a parallel region), else one range. For
 * kernels whose body must be a call to a function specialised for its op: inside an
 * OpenMP region GCC sees the enclosing function's variables (such as an op code) as
 * unknowns, so a switch on them is not folded and the loop is not vectorised; a call
 * made from here to a function written for one op is. No `continue` in body. */
#define TG_RANGES(lo, hi, N, ...)                                                \
    do {                                                                         \
        int64_t n_ = (N);                                                        \
        if (TG_TASKED(n_)) {                                                     \
            TG_TASK_RANGES(lo, hi, n_, TG_N_TASKS(n_), __VA_ARGS__);                             \
        } else if (n_ > TG_PAR_MIN) {                                            \
            _Pragma("omp parallel") {                                            \
                int64_t nt_ = omp_get_num_threads(), id_ = omp_get_thread_num(); \
                int64_t lo = n_ * id_ / nt_, hi = n_ * (id_ + 1) / nt_;          \
                __VA_ARGS__;                                                     \
            }                                                                    \
        } else {                                                                 \
            int64_t lo = 0, hi = n_;                                             \
            __VA_ARGS__;                                                         \
        }                                                                        \
    } while (0)

/* For backward kernels: 1 if input i's gradient buffer is fresh (tg_op_desc.assigns):
 * write every element of it, don't add. */
#define TG_FRESH(n, i) ((i) < 64 && (((n)->fresh >> (i)) & 1))
#define TG_ASSIGNS_ALL (~(uint64_t)0)

/* With t->defer_wgrad, a small product x @ w (or x @ w^T) by a persistent weight
 * defers w's gradient (graph/tape.h, tg_wgrad); called by tg_op_apply for a recorded
 * matmul node. 0, or -1 out of memory. */
int tg_matmul_defer(tg_tape *t, tg_node *n);

#endif
