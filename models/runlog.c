/* runlog.c: the run directory's log.csv and loss.svg, rewritten from the trainer's log
 * (written to a temporary name and renamed, so a viewer never sees half a file). The
 * plot needs nothing but a browser: training loss and validation loss against step. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/trainer.h"

static FILE *open_tmp(const char *path, char *tmp, size_t n, tg_error *err)
{
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) tg_error_set_at(err, TG_ERR_IO, tmp, 0, 0, "cannot write: %s", strerror(errno));
    return f;
}

static tg_status close_rename(FILE *f, const char *tmp, const char *path, tg_error *err)
{
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(errno ? errno : EIO));
    }
    return TG_OK;
}

static tg_status write_csv(const tg_trainer *t, const char *path, tg_error *err)
{
    char tmp[1200];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f) return err->code;
    fprintf(f, "step,loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s\n");
    for (int64_t r = 0; r < t->n_log; r++) {
        const double *x = t->log + 7 * r;
        fprintf(f, "%.0f,%.6g,", x[0], x[1]);
        if (isfinite(x[2])) fprintf(f, "%.6g", x[2]);
        fprintf(f, ",%.6g,%.6g,%.1f,%.3f\n", x[3], x[4], x[5], x[6]);
    }
    return close_rename(f, tmp, path, err);
}

static void polyline(FILE *f, const tg_trainer *t, int col, const char *color, double x0, double sx,
                     double lo, double sy)
{
    int open = 0;
    for (int64_t r = 0; r < t->n_log; r++) {
        double v = t->log[7 * r + col];
        if (!isfinite(v)) continue;
        if (!open) fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", color), open = 1;
        fprintf(f, "%.1f,%.1f ", 60 + (t->log[7 * r] - x0) * sx, 370 - (v - lo) * sy);
    }
    if (open) fprintf(f, "'/>\n");
}

static tg_status write_svg(const tg_trainer *t, const char *path, tg_error *err)
{
    char tmp[1200];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f) return err->code;
    double x0 = 0, x1 = 1, lo = INFINITY, hi = -INFINITY;
    for (int64_t r = 0; r < t->n_log; r++) {
        const double *x = t->log + 7 * r;
        x1 = fmax(x1, x[0]);
        for (int c = 1; c <= 2; c++)
            if (isfinite(x[c])) lo = fmin(lo, x[c]), hi = fmax(hi, x[c]);
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    double sx = 500 / (x1 - x0), sy = 340 / (hi - lo);
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='600' height='420' font-family='sans-serif' "
               "font-size='12'>\n<rect width='600' height='420' fill='white'/>\n"
               "<text x='300' y='18' text-anchor='middle'>%s</text>\n"
               "<line x1='60' y1='370' x2='560' y2='370' stroke='black'/>\n"
               "<line x1='60' y1='30' x2='60' y2='370' stroke='black'/>\n", t->tc.run_dir);
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4, s = x0 + (x1 - x0) * k / 4;
        fprintf(f, "<text x='55' y='%.1f' text-anchor='end'>%.3g</text>\n", 374 - 340.0 * k / 4, v);
        fprintf(f, "<text x='%.1f' y='388' text-anchor='middle'>%.0f</text>\n", 60 + 500.0 * k / 4, s);
    }
    fprintf(f, "<text x='310' y='410' text-anchor='middle'>step</text>\n"
               "<text x='16' y='200' transform='rotate(-90 16 200)' text-anchor='middle'>loss (nats)</text>\n");
    polyline(f, t, 1, "#1f77b4", x0, sx, lo, sy);
    polyline(f, t, 2, "#d62728", x0, sx, lo, sy);
    fprintf(f, "<text x='470' y='45' fill='#1f77b4'>training loss</text>\n"
               "<text x='470' y='62' fill='#d62728'>validation loss</text>\n</svg>\n");
    return close_rename(f, tmp, path, err);
}

tg_status tg_runlog_write(const tg_trainer *t, tg_error *err)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/log.csv", t->tc.run_dir);
    if (write_csv(t, p, err)) return err->code;
    snprintf(p, sizeof p, "%s/loss.svg", t->tc.run_dir);
    return write_svg(t, p, err);
}
