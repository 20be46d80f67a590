/* program_impl.h: what program.c (compiling, running) and program_opt.c (fusion,
 * hoisting) share: the instruction and the few internal entry points. Not public. */
#ifndef TG_PROGRAM_IMPL_H
#define TG_PROGRAM_IMPL_H

#include "models/program.h"
#include "ops/fused.h"

enum {
    F_OP,      /* a registry op; static args map to attributes (see attrs_for) */
    F_AUTO_MM, /* a @ b: matmul, or bmm when b has more than 2 dims */
    F_T,       /* transpose of the last two dims, or transpose(x, a0, a1) */
    F_SPLIT,   /* n slices */
    F_CONST,   /* a scalar tensor from a static expression */
    F_SCALE,   /* scale by a static expression (inverted for division) */
};

struct tg_instr {
    int fn, op;
    int eq, pos;
    int n_src, *src;
    int n_dst, dst[TG_EQ_MAX_LHS];
    int n_sarg;
    const tg_expr *sarg[8];
    int ta, tb, inv;
    int res;    /* F_AUTO_MM: the last source is a residual added to the product */
    int bt_ok;  /* F_AUTO_MM per step, x @ W.T with W a parameter: may use p->bt */
    int packed; /* attention whose q, k, v are a split's three parts: the split's source
                   slot + 1 (0: none), read packed (ops/attention.c); packed_from: the split */
    int packed_from;
    int absorbed; /* a split whose parts only such an attention reads: not run */
    /* a split whose parts fused groups read as column blocks of its source: those
     * groups' roots, and whether every part is read so (then the split does not run
     * while they run as one op each) */
    int n_absorbers, absorbers[TG_EQ_MAX_LHS], all_absorbed;
    uint32_t absorbed_parts; /* bit q: part q is read in place by one of them */
    int hoist;  /* run once over the whole sequence (tg_program_plan_hoist) */
    int root;   /* the instruction whose fused group runs this one (itself for the root),
                   -1 if none (tg_program_fuse) */
    tg_fused_code *code; /* a group's root: the program, its external inputs (slots) */
    int n_fin, fin[TG_FUSED_MAX_IN];
    int fuse_off;        /* a group's root: run the members one by one after all */
};

/* A hyper-parameter's or dimension's value for tg_expr_eval (ctx: the program). */
int tg_program_lookup(void *ctx, const char *name, double *v);
/* Runs a split instruction into its slots; -1 on a static-argument error (in e), else
 * 0 (a shape error is the tape's). */
int tg_program_run_split(tg_program *p, tg_tape *t, const tg_instr *in, tg_tensor **slots, tg_prog_error *e);
/* Runs one instruction (not a split); its output, or NULL with the tape's error. */
tg_tensor *tg_program_run_one(tg_program *p, tg_tape *t, const tg_instr *in, tg_tensor **slots,
                              tg_prog_error *e);
/* The root of instruction i's fused group (i itself if none). */
int tg_program_root(const tg_program *p, int i);
/* Runs the fused group rooted at r: one fused op, or its members one by one. */
void tg_program_run_group(tg_program *p, tg_tape *t, int r, tg_tensor **slots, tg_prog_error *e);

#endif
