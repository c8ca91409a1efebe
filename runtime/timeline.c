/* timeline.c: see timeline.h. Lays out the model that timeline_read.c reads (timeline_int.h),
 * writes it as SVG, and parses the command line. */
#include "runtime/timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringmaster.h"
#include "runtime/timeline_int.h"

#define MERGE_PX 0.5 /* spans narrower than this join their neighbours */

/* ---- layout ---------------------------------------------------------------------------------- */

#define LEFT 118.0
#define RIGHT 28.0
#define ROW_H 26.0
#define TASK_Y 3.0 /* task bar: its offset in the row and height */
#define TASK_H 14.0
#define AUX_Y 18.0 /* shuffle, checkpoint and replication bars under it */
#define AUX_H 6.0
#define LANE_H 15.0
#define MAX_LANES 6
#define FONT_W 6.6 /* rough width of one character at 11 px */

struct layout {
    double width, height;
    double t0, t1;    /* microseconds at the plot's edges */
    double scale;     /* pixels per microsecond */
    double lanes_top; /* marker labels */
    int nlanes;
    double plot_top, plot_bottom;
    double legend_top;
};

static double x_of(const struct layout *l, double t)
{
    return LEFT + (t - l->t0) * l->scale;
}

static double row_y(const struct layout *l, size_t row)
{
    return l->plot_top + (double)row * ROW_H;
}

/* Time range: ringmaster traces count from the job's start (0); others from their first
 * event. */
static void time_range(const struct tl *tl, struct layout *l)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < tl->nspans; i++) {
        lo = fmin(lo, tl->spans[i].t0);
        hi = fmax(hi, tl->spans[i].t1);
    }
    for (size_t i = 0; i < tl->nmarkers; i++) {
        lo = fmin(lo, tl->markers[i].t);
        hi = fmax(hi, tl->markers[i].t);
    }
    if (lo > hi)
        lo = hi = 0;
    if (tl->ringmaster)
        lo = fmin(lo, 0);
    l->t0 = lo;
    l->t1 = hi > lo ? hi : lo + 1e6;
}

static int cmp_marker(const void *a, const void *b)
{
    const struct marker *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

static size_t marker_label(const struct marker *m, char *buf, size_t len);

/* Gives each labelled marker the first lane where its label does not overlap the one before;
 * markers that find none keep only their line and tooltip. Returns the lanes used. */
static int assign_lanes(struct tl *tl, const struct layout *l)
{
    double end[MAX_LANES];
    int used = 0;
    char label[96];
    for (int k = 0; k < MAX_LANES; k++)
        end[k] = -INFINITY;
    qsort(tl->markers, tl->nmarkers, sizeof *tl->markers, cmp_marker);
    for (size_t i = 0; i < tl->nmarkers; i++) {
        struct marker *m = &tl->markers[i];
        size_t n = marker_label(m, label, sizeof label);
        double x = x_of(l, m->t), w = (double)n * FONT_W + 8;
        double from = x + w > l->width - 4 ? x - w : x; /* near the right edge: label left */
        m->lane = -1;
        for (int k = 0; n > 0 && k < MAX_LANES; k++)
            if (end[k] < from) {
                m->lane = k;
                end[k] = from + w;
                used = k + 1 > used ? k + 1 : used;
                break;
            }
    }
    return used;
}

static void lay_out(struct tl *tl, unsigned width, struct layout *l)
{
    l->width = width;
    time_range(tl, l);
    l->scale = (l->width - LEFT - RIGHT) / (l->t1 - l->t0);
    l->lanes_top = 58;
    l->nlanes = assign_lanes(tl, l);
    l->plot_top = l->lanes_top + l->nlanes * LANE_H + 6;
    l->plot_bottom = row_y(l, tl->rows.n);
    l->legend_top = l->plot_bottom + 48;
}

/* ---- text ------------------------------------------------------------------------------------ */

/* Writes s as XML character data, at most max code points (0: no limit) with "..." after a
 * cut. s is valid UTF-8 (the JSON reader checked it); characters XML forbids become '?'. */
static void put_text(FILE *f, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t chars = 0; *p; chars++) {
        if (max && chars == max) {
            fputs("...", f);
            return;
        }
        size_t n = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        if (*p == '&')
            fputs("&amp;", f);
        else if (*p == '<')
            fputs("&lt;", f);
        else if (*p == '>')
            fputs("&gt;", f);
        else if (*p == '"')
            fputs("&quot;", f);
        else if (*p < 0x20)
            fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : '?', f);
        else if (n == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
            fputc('?', f); /* U+FFFE, U+FFFF */
        else
            fwrite(p, 1, n, f);
        p += n;
    }
}

/* A duration in microseconds as "5.7 ms", "0.042 ms" or "12.35 s". */
static void fmt_dur(double us, char *buf, size_t len)
{
    if (us >= 1e6)
        snprintf(buf, len, "%.2f s", us / 1e6);
    else if (us >= 1e3)
        snprintf(buf, len, "%.1f ms", us / 1e3);
    else
        snprintf(buf, len, "%.3f ms", us / 1e3);
}

/* The label drawn above a marker's line; returns its length (0: none). */
static size_t marker_label(const struct marker *m, char *buf, size_t len)
{
    int n = 0;
    if (m->kind == M_FAILURE)
        n = snprintf(buf, len, "rank %lld died", m->rank);
    else if (m->kind == M_ELECTION && m->n >= 0)
        n = snprintf(buf, len, "rank %lld leads (term %lld)", m->rank, m->n);
    else if (m->kind == M_ELECTION)
        n = snprintf(buf, len, "rank %lld leads", m->rank);
    else
        buf[0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

/* The tooltip of a marker, times counted from t0. */
static void marker_title(const struct marker *m, double t0, char *buf, size_t len)
{
    double s = (m->t - t0) / 1e6;
    int n;
    if (m->kind == M_FAILURE) {
        n = snprintf(buf, len, "rank %lld died, at %.3f s", m->rank, s);
        if (m->other >= 0 && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, "; detected by rank %lld", m->other);
        if (m->ms >= 0 && n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, " after %.1f ms", m->ms);
    } else if (m->kind == M_ELECTION) {
        n = snprintf(buf, len, "rank %lld elected leader", m->rank);
        if (m->n >= 0 && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, " (term %lld)", m->n);
        if (n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, " at %.3f s", s);
    } else {
        n = snprintf(buf, len, "rank %lld rescheduled ", m->rank);
        if (m->n >= 0 && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, "%lld tasks ", m->n);
        if (m->other >= 0 && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, "of rank %lld ", m->other);
        if (n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, "at %.3f s", s);
    }
}

/* ---- colours and looks ----------------------------------------------------------------------- */

#define FAILURE_COLOR "#d62728"
#define ELECTION_COLOR "#333333"

/* Stages with a usual name keep their colour whatever their number; others take one from a
 * fixed palette by stage number. Red and grey are left for failures and other spans. */
static const char *stage_color(const char *name, long long num)
{
    static const char *const palette[] = {"#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
                                          "#d37295", "#a0cbe8", "#8cd17d", "#86bcb6", "#f1ce63"};
    if (name && strcmp(name, "map") == 0)
        return "#4e79a7";
    if (name && strcmp(name, "combine") == 0)
        return "#59a14f";
    if (name && strcmp(name, "reduce") == 0)
        return "#f28e2b";
    return palette[(unsigned long long)num % (sizeof palette / sizeof palette[0])];
}

/* How spans of one kind and stage are drawn. */
struct look {
    char cls[40];  /* class names after "span " */
    char what[64]; /* what a merged run is called: the stage name, or the kind */
    const char *fill;
    double y, h; /* within the row */
};

static const char *const kind_names[K_COUNT] = {"task", "shuffle", "checkpoint", "replicate",
                                                "other"};

static void look_of(const struct tl *tl, const struct span *s, struct look *lk)
{
    static const char *const fills[K_COUNT] = {NULL, "#2f4b7c", "url(#hatch-checkpoint)",
                                               "url(#dots-replicate)", "#b4b4b4"};
    bool aux = s->kind == K_SHUFFLE || s->kind == K_CHECKPOINT || s->kind == K_REPLICATE;
    lk->y = aux ? AUX_Y : TASK_Y;
    lk->h = aux ? AUX_H : TASK_H;
    if (s->kind != K_TASK) {
        snprintf(lk->cls, sizeof lk->cls, "%s", kind_names[s->kind]);
        snprintf(lk->what, sizeof lk->what, "%s", kind_names[s->kind]);
        lk->fill = fills[s->kind];
        return;
    }
    const struct named *st = rm__timeline_named_get(&tl->stages, s->stage);
    const char *name = st ? st->name : NULL;
    snprintf(lk->cls, sizeof lk->cls, "stage-%lld", s->stage);
    if (name)
        snprintf(lk->what, sizeof lk->what, "%s", name);
    else
        snprintf(lk->what, sizeof lk->what, "stage %lld", s->stage);
    lk->fill = stage_color(name, s->stage);
}

/* ---- spans ----------------------------------------------------------------------------------- */

/* Spans narrower than MERGE_PX that touch (within MERGE_PX) become one run. */
struct run {
    const struct span *first;
    size_t count;
    double x0, x1, busy;
};

static void put_rect(FILE *f, const struct look *lk, double y, double x0, double x1, size_t count)
{
    fprintf(f, "<rect class=\"span %s%s\"", lk->cls, count > 1 ? " merged" : "");
    if (count > 1)
        fprintf(f, " data-count=\"%zu\"", count);
    fprintf(f, " x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\">", x0, y + lk->y,
            fmax(x1 - x0, MERGE_PX), lk->h, lk->fill);
}

static void put_one(FILE *f, const struct look *lk, double y, const struct span *s, double x0,
                    double x1)
{
    char d[32];
    put_rect(f, lk, y, x0, x1, 1);
    fmt_dur(s->t1 - s->t0, d, sizeof d);
    fputs("<title>", f);
    put_text(f, s->name, 200);
    if (s->attempt > 1)
        fprintf(f, " (attempt %d)", s->attempt);
    fprintf(f, ": %s</title></rect>\n", d);
}

static void flush_run(FILE *f, const struct look *lk, double y, struct run *r,
                      const struct layout *l, size_t *rects)
{
    if (r->count == 0)
        return;
    if (r->count == 1) {
        put_one(f, lk, y, r->first, r->x0, r->x1);
    } else {
        char busy[32], from[32], to[32];
        fmt_dur(r->busy, busy, sizeof busy);
        fmt_dur((r->x0 - LEFT) / l->scale, from, sizeof from);
        fmt_dur((r->x1 - LEFT) / l->scale, to, sizeof to);
        put_rect(f, lk, y, r->x0, r->x1, r->count);
        fputs("<title>", f);
        put_text(f, lk->what, 60);
        fprintf(f, ": %zu spans from %s to %s, %s busy</title></rect>\n", r->count, from, to, busy);
    }
    (*rects)++;
    r->count = 0;
}

/* Draws n spans of one kind and stage, sorted by start, on the row at y. */
static void put_group(FILE *f, const struct tl *tl, const struct layout *l, double y,
                      const struct span *s, size_t n, size_t *rects)
{
    struct look lk;
    struct run r = {0};
    look_of(tl, s, &lk);
    for (size_t i = 0; i < n; i++) {
        double x0 = x_of(l, s[i].t0), x1 = x_of(l, s[i].t1);
        if (x1 - x0 >= MERGE_PX) {
            flush_run(f, &lk, y, &r, l, rects);
            put_one(f, &lk, y, &s[i], x0, x1);
            (*rects)++;
        } else if (r.count > 0 && x0 - r.x1 < MERGE_PX) {
            r.x1 = fmax(r.x1, x1);
            r.busy += s[i].t1 - s[i].t0;
            r.count++;
        } else {
            flush_run(f, &lk, y, &r, l, rects);
            r = (struct run){
                .first = &s[i], .count = 1, .x0 = x0, .x1 = x1, .busy = s[i].t1 - s[i].t0};
        }
    }
    flush_run(f, &lk, y, &r, l, rects);
}

static bool same_group(const struct span *a, const struct span *b)
{
    return a->kind == b->kind && a->stage == b->stage;
}

/* Draws one rank's row: its label and its n spans (sorted by kind, stage, start). */
static void put_row(FILE *f, const struct tl *tl, const struct layout *l, size_t row,
                    const struct span *s, size_t n, size_t *rects)
{
    const struct named *rk = &tl->rows.v[row];
    double y = row_y(l, row);
    fprintf(f, "<g class=\"rank\" data-rank=\"%lld\" id=\"rank-%lld\" data-spans=\"%zu\">\n",
            rk->key, rk->key, n);
    fprintf(f, "<text class=\"row-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", LEFT - 8,
            y + ROW_H / 2 + 4);
    if (rk->name)
        put_text(f, rk->name, 16);
    else
        fprintf(f, "rank %lld", rk->key);
    fputs("</text>\n", f);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && same_group(&s[i], &s[j]); j++)
            ;
        put_group(f, tl, l, y, s + i, j - i, rects);
    }
    fputs("</g>\n", f);
}

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->stage != y->stage)
        return x->stage < y->stage ? -1 : 1;
    return (x->t0 > y->t0) - (x->t0 < y->t0);
}

/* Draws every row; spans must be sorted by cmp_span. Returns the rectangles drawn. */
static size_t put_rows(FILE *f, const struct tl *tl, const struct layout *l)
{
    size_t rects = 0, i = 0;
    fputs("<g class=\"rows\">\n", f);
    for (size_t row = 0; row < tl->rows.n; row++) {
        size_t j = i;
        while (j < tl->nspans && tl->spans[j].rank == tl->rows.v[row].key)
            j++;
        put_row(f, tl, l, row, tl->spans + i, j - i, &rects);
        i = j;
    }
    fputs("</g>\n", f);
    return rects;
}

/* ---- axis, grid and row backgrounds ---------------------------------------------------------- */

/* A tick step of 1, 2 or 5 times a power of ten seconds giving about one tick per 100 px;
 * *decimals is what its labels need. */
static double tick_step(const struct layout *l, int *decimals)
{
    double secs = (l->t1 - l->t0) / 1e6;
    double want = (l->width - LEFT - RIGHT) / 100.0;
    double raw = secs / (want < 2 ? 2 : want);
    double mag = pow(10, floor(log10(raw)));
    double step = raw <= mag ? mag : raw <= 2 * mag ? 2 * mag : raw <= 5 * mag ? 5 * mag : 10 * mag;
    int d = (int)-floor(log10(step) + 1e-9);
    *decimals = d < 0 ? 0 : d;
    return step;
}

/* Row stripes and vertical grid lines, under everything else. */
static void put_backdrop(FILE *f, const struct tl *tl, const struct layout *l)
{
    int decimals;
    double step = tick_step(l, &decimals);
    fputs("<g class=\"backdrop\">\n", f);
    for (size_t row = 0; row < tl->rows.n; row++)
        fprintf(f, "<rect x=\"0\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" fill=\"%s\"/>\n",
                row_y(l, row), l->width, ROW_H, row % 2 ? "#ffffff" : "#f3f4f6");
    for (long k = 0; k * step * 1e6 <= l->t1 - l->t0; k++) {
        double x = x_of(l, l->t0 + (double)k * step * 1e6);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n",
                x, l->plot_top, x, l->plot_bottom);
    }
    fputs("</g>\n", f);
}

static void put_axis(FILE *f, const struct tl *tl, const struct layout *l)
{
    int decimals;
    double step = tick_step(l, &decimals), y = l->plot_bottom;
    fputs("<g class=\"axis\">\n", f);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/>\n", LEFT,
            y, l->width - RIGHT, y);
    for (long k = 0; k * step * 1e6 <= l->t1 - l->t0; k++) {
        double s = (double)k * step, x = x_of(l, l->t0 + s * 1e6);
        fprintf(f,
                "<line class=\"tick\" x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" "
                "stroke=\"#444444\"/>\n",
                x, y, x, y + 5);
        fprintf(f,
                "<text class=\"tick-label\" x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%.*f"
                " s</text>\n",
                x, y + 17, decimals, s);
    }
    fprintf(f,
            "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "fill=\"#555555\">time since %s (s)</text>\n</g>\n",
            LEFT + (l->width - LEFT - RIGHT) / 2, y + 34,
            tl->ringmaster ? "the job started" : "the first event");
}

/* ---- markers --------------------------------------------------------------------------------- */

static size_t row_of(const struct tl *tl, long long rank)
{
    return rm__timeline_named_find(&tl->rows, rank);
}

/* The symbol a marker draws on its rank's row, centred at x. */
static void put_symbol(FILE *f, const struct marker *m, double x, double y)
{
    if (m->kind == M_FAILURE)
        fprintf(f,
                "<path d=\"M%.2f %.1fL%.2f %.1fM%.2f %.1fL%.2f %.1f\" stroke=\"%s\" "
                "stroke-width=\"2.5\"/>\n",
                x - 5, y - 5, x + 5, y + 5, x - 5, y + 5, x + 5, y - 5, FAILURE_COLOR);
    else if (m->kind == M_ELECTION)
        fprintf(f,
                "<path d=\"M%.2f %.1fL%.2f %.1fL%.2f %.1fL%.2f %.1fZ\" fill=\"%s\" "
                "stroke=\"#ffffff\"/>\n",
                x, y - 6, x + 6, y, x, y + 6, x - 6, y, ELECTION_COLOR);
    else
        fprintf(f, "<path d=\"M%.2f %.1fL%.2f %.1fL%.2f %.1fZ\" fill=\"%s\" stroke=\"#ffffff\"/>\n",
                x - 5, y - 9, x + 5, y - 9, x, y - 1, ELECTION_COLOR);
}

static void put_marker(FILE *f, const struct tl *tl, const struct layout *l, const struct marker *m)
{
    static const char *const names[M_COUNT] = {"failure", "election", "reschedule"};
    char label[96], title[256];
    double x = x_of(l, m->t);
    double row_mid = row_y(l, row_of(tl, m->rank)) + TASK_Y + TASK_H / 2;
    size_t n = marker_label(m, label, sizeof label);
    const char *color = m->kind == M_FAILURE ? FAILURE_COLOR : ELECTION_COLOR;
    marker_title(m, l->t0, title, sizeof title);
    fprintf(f, "<g class=\"marker %s\" data-rank=\"%lld\" data-t=\"%.6f\">\n<title>%s</title>\n",
            names[m->kind], m->rank, (m->t - l->t0) / 1e6, title);
    if (m->kind != M_RESCHEDULE) {
        double top = m->lane >= 0 ? l->lanes_top + m->lane * LANE_H + 2 : l->plot_top;
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"1.5\"%s/>\n",
                x, top, x, l->plot_bottom, color,
                m->kind == M_ELECTION ? " stroke-dasharray=\"5 3\"" : "");
    }
    put_symbol(f, m, x, m->kind == M_RESCHEDULE ? row_mid - TASK_H / 2 + 1 : row_mid);
    if (n > 0 && m->lane >= 0) {
        bool left = x + (double)n * FONT_W + 8 > l->width - 4;
        fprintf(f,
                "<text class=\"marker-label\" x=\"%.2f\" y=\"%.1f\" text-anchor=\"%s\" "
                "fill=\"%s\" font-weight=\"bold\">%s</text>\n",
                left ? x - 3 : x + 3, l->lanes_top + (m->lane + 1) * LANE_H - 3,
                left ? "end" : "start", color, label);
    }
    fputs("</g>\n", f);
}

static void put_markers(FILE *f, const struct tl *tl, const struct layout *l)
{
    fputs("<g class=\"markers\">\n", f);
    for (size_t i = 0; i < tl->nmarkers; i++)
        put_marker(f, tl, l, &tl->markers[i]);
    fputs("</g>\n", f);
}

/* ---- legend and title ------------------------------------------------------------------------ */

enum { SYM_BOX, SYM_THIN, SYM_FAILURE, SYM_ELECTION, SYM_RESCHEDULE };

/* Lays legend items out left to right, wrapping; draws them when f is set. */
struct legend {
    FILE *f;
    const struct layout *l;
    double x, y;
    int lines;
};

static void put_swatch(FILE *f, int sym, const char *fill, double x, double y)
{
    if (sym == SYM_BOX || sym == SYM_THIN)
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%d\" fill=\"%s\"/>", x,
                sym == SYM_BOX ? y - 10 : y - 6, sym == SYM_BOX ? 11 : 6, fill);
    else if (sym == SYM_RESCHEDULE)
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>", x + 3, y - 10,
                x + 13, y - 10, x + 8, y - 2, fill);
    else
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s/>",
                x + 8, y - 12, x + 8, y + 2, fill,
                sym == SYM_ELECTION ? " stroke-dasharray=\"4 2\"" : "");
}

static void legend_item(struct legend *lg, const char *cls, const char *text, int sym,
                        const char *fill)
{
    double w = 22 + (double)strlen(text) * FONT_W + 16;
    if (lg->x > LEFT && lg->x + w > lg->l->width - RIGHT) {
        lg->x = LEFT;
        lg->y += 18;
        lg->lines++;
    }
    if (lg->f) {
        fprintf(lg->f, "<g class=\"legend-item %s\">", cls);
        put_swatch(lg->f, sym, fill, lg->x, lg->y);
        fprintf(lg->f, "<text x=\"%.1f\" y=\"%.1f\">", lg->x + 22, lg->y);
        put_text(lg->f, text, 0);
        fputs("</text></g>\n", lg->f);
    }
    lg->x += w;
}

/* Draws the legend (f may be NULL to measure it); returns its lines. */
static int put_legend(FILE *f, const struct tl *tl, const struct layout *l)
{
    static const char *const kind_text[K_COUNT] = {NULL, "shuffle", "checkpoint", "replication",
                                                   "other spans"};
    static const char *const kind_fill[K_COUNT] = {NULL, "#2f4b7c", "url(#hatch-checkpoint)",
                                                   "url(#dots-replicate)", "#b4b4b4"};
    struct legend lg = {.f = f, .l = l, .x = LEFT, .y = l->legend_top, .lines = 1};
    char cls[48], text[96], name[80];
    if (f)
        fputs("<g class=\"legend\">\n", f);
    for (size_t i = 0; i < tl->stages.n; i++) {
        const struct named *st = &tl->stages.v[i];
        snprintf(cls, sizeof cls, "stage-%lld", st->key);
        snprintf(name, sizeof name, "%s", st->name ? st->name : "stage");
        snprintf(text, sizeof text, "%.40s (stage %lld)", name, st->key);
        legend_item(&lg, cls, text, SYM_BOX, stage_color(st->name, st->key));
    }
    for (int k = K_SHUFFLE; k < K_COUNT; k++)
        if (tl->seen[k])
            legend_item(&lg, kind_names[k], kind_text[k], k == K_OTHER ? SYM_BOX : SYM_THIN,
                        kind_fill[k]);
    if (tl->mseen[M_FAILURE])
        legend_item(&lg, "failure", "rank died", SYM_FAILURE, FAILURE_COLOR);
    if (tl->mseen[M_ELECTION])
        legend_item(&lg, "election", "leader elected", SYM_ELECTION, ELECTION_COLOR);
    if (tl->mseen[M_RESCHEDULE])
        legend_item(&lg, "reschedule", "tasks rescheduled", SYM_RESCHEDULE, ELECTION_COLOR);
    if (f)
        fputs("</g>\n", f);
    return lg.lines;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The title line, as plain text (escaped when written). */
static void title_text(const struct tl *tl, const struct layout *l, const char *trace, char *buf,
                       size_t len)
{
    char d[32];
    fmt_dur(l->t1 - l->t0, d, sizeof d);
    if (tl->nspans == 0 && tl->nmarkers == 0)
        snprintf(buf, len, "Trace %.200s \xc2\xb7 no events", base_name(trace));
    else if (tl->kernel || tl->process)
        snprintf(buf, len, "Kernel %.200s \xc2\xb7 job length %s",
                 tl->kernel ? tl->kernel : tl->process, d);
    else
        snprintf(buf, len, "Trace %.200s \xc2\xb7 length %s", base_name(trace), d);
}

static void put_title(FILE *f, const struct tl *tl, const char *title, size_t rects)
{
    fputs("<text class=\"title\" x=\"14\" y=\"26\" font-size=\"17\" font-weight=\"bold\">", f);
    put_text(f, title, 0);
    fprintf(f,
            "</text>\n<text class=\"subtitle\" x=\"14\" y=\"45\" fill=\"#555555\">%zu rank%s "
            "\xc2\xb7 %zu task span%s, %zu span%s in all, drawn as %zu rectangle%s",
            tl->rows.n, tl->rows.n == 1 ? "" : "s", tl->ntasks, tl->ntasks == 1 ? "" : "s",
            tl->nspans, tl->nspans == 1 ? "" : "s", rects, rects == 1 ? "" : "s");
    if (tl->version) {
        fputs(" \xc2\xb7 ringmaster ", f);
        put_text(f, tl->version, 40);
    }
    if (tl->start) {
        fputs(" \xc2\xb7 started ", f);
        put_text(f, tl->start, 40);
    }
    fputs("</text>\n", f);
}

/* ---- the document ---------------------------------------------------------------------------- */

static void put_defs(FILE *f)
{
    fputs("<defs>\n"
          "<pattern id=\"hatch-checkpoint\" patternUnits=\"userSpaceOnUse\" width=\"4\" "
          "height=\"4\" patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" "
          "fill=\"#f6d6a8\"/><rect width=\"2\" height=\"4\" fill=\"#b3591a\"/></pattern>\n"
          "<pattern id=\"dots-replicate\" patternUnits=\"userSpaceOnUse\" width=\"4\" "
          "height=\"4\"><rect width=\"4\" height=\"4\" fill=\"#e3d5f0\"/><circle cx=\"2\" "
          "cy=\"2\" r=\"1.2\" fill=\"#6a3d9a\"/></pattern>\n"
          "</defs>\n",
          f);
}

static void put_svg(FILE *f, const struct tl *tl, const struct layout *l, const char *trace)
{
    char title[320];
    double height = l->legend_top + 18 * put_legend(NULL, tl, l) + 4;
    title_text(tl, l, trace, title, sizeof title);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, "
            "Arial, sans-serif\" font-size=\"11\">\n<title>",
            l->width, height, l->width, height);
    put_text(f, title, 0);
    fputs("</title>\n", f);
    put_defs(f);
    fprintf(f, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", l->width, height);
    put_backdrop(f, tl, l);
    size_t rects = put_rows(f, tl, l);
    put_axis(f, tl, l);
    put_markers(f, tl, l);
    put_legend(f, tl, l);
    put_title(f, tl, title, rects);
    fputs("</svg>\n", f);
}

/* Creates a new file beside path for writing; its name goes to tmp. Returns the descriptor, or
 * -1 with errno set. */
static int open_temp(const char *path, char *tmp, size_t len)
{
    for (int k = 0; k < 100; k++) {
        int n = snprintf(tmp, len, "%s.tmp.%ld.%d", path, (long)getpid(), k);
        if (n < 0 || (size_t)n >= len) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Writes the SVG under a temporary name, then renames it to o->svg. */
static int write_svg(const struct tl *tl, const struct layout *l,
                     const struct rm_timeline_options *o, char *err, size_t errlen)
{
    char tmp[4200];
    int fd = open_temp(o->svg, tmp, sizeof tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        snprintf(err, errlen, "cannot write --svg %s: %s", o->svg, strerror(saved));
        return RM_EIO;
    }
    put_svg(f, tl, l, o->trace);
    bool ok = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    saved = ok ? errno : saved;
    if (ok && rename(tmp, o->svg) == 0)
        return 0;
    saved = ok ? errno : saved;
    unlink(tmp);
    snprintf(err, errlen, "cannot write --svg %s: %s", o->svg, strerror(saved));
    return RM_EIO;
}

/* Refuses an output that is a directory or the trace itself, before any work. */
static int check_output(const struct rm_timeline_options *o, char *err, size_t errlen)
{
    struct stat out, in;
    if (stat(o->svg, &out) != 0)
        return 0;
    if (S_ISDIR(out.st_mode)) {
        snprintf(err, errlen, "--svg %s is a directory", o->svg);
        return RM_EIO;
    }
    if (stat(o->trace, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
        snprintf(err, errlen, "--svg %s would replace the trace itself", o->svg);
        return RM_EIO;
    }
    return 0;
}

int rm_timeline_render(const struct rm_timeline_options *o, char *err, size_t errlen)
{
    struct tl tl = {.rows.max = MAX_ROWS, .stages.max = MAX_STAGES, .err = err, .errlen = errlen};
    struct layout l;
    char *buf = NULL;
    size_t len = 0;
    snprintf(err, errlen, "out of memory");
    int rc = check_output(o, err, errlen);
    if (rc == 0)
        rc = rm__timeline_load(o->trace, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    rc = rm__timeline_read(&tl, buf, len);
    free(buf);
    if (rc == 0) {
        qsort(tl.spans, tl.nspans, sizeof *tl.spans, cmp_span);
        lay_out(&tl, o->width, &l);
        rc = write_svg(&tl, &l, o, err, errlen);
    } else {
        char why[256];
        snprintf(why, sizeof why, "%s", rc == RM_ENOMEM ? "out of memory" : err);
        snprintf(err, errlen, "trace %s: %s", o->trace, why);
    }
    rm__timeline_free(&tl);
    return rc;
}

/* ---- the command line ------------------------------------------------------------------------ */

void rm_timeline_print_help(FILE *f)
{
    fprintf(f,
            "Usage: ringmaster timeline TRACE.json --svg OUT.svg [--width PX]\n\n"
            "Draws a trace (written by 'ringmaster run KERNEL ... --trace FILE', or any Chrome\n"
            "trace-event JSON) as a Gantt chart in SVG: one row per rank; task spans coloured\n"
            "by stage; shuffle, checkpoint and replication spans as thin patterned bars under\n"
            "them; other spans in grey; failures (red) and elections (dashed) as labelled\n"
            "vertical lines; rescheduling as triangles; a time axis in seconds, a legend, and a\n"
            "title with the kernel and the job length. Hover a span for its name and duration.\n"
            "Spans narrower than half a pixel are merged with their neighbours of the same rank\n"
            "and stage, so large traces give small pictures.\n\n"
            "Options:\n"
            "  --svg FILE    the SVG to write (required); written under a temporary name beside\n"
            "                it and renamed, so FILE is never left half-written\n"
            "  --width PX    width of the picture in pixels, %u to %u [%u]\n"
            "  --help        this text\n\n"
            "Exit status: 0 written; 2 usage error, or a trace that is missing, unreadable, not\n"
            "JSON (the error names the byte offset) or not a trace, or an output that cannot be\n"
            "written.\n",
            400u, 20000u, RM_TIMELINE_DEFAULT_WIDTH);
}

/* The value of option name at argv[*i], as "--name VALUE" or "--name=VALUE"; NULL if argv[*i]
 * is not that option. Sets *missing when the value is absent. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int parse_width(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 400 || v > 20000)
        return RM_EUSAGE;
    *out = (unsigned)v;
    return 0;
}

int rm_timeline_parse_args(int argc, char **argv, struct rm_timeline_options *o, char *err,
                           size_t errlen)
{
    *o = (struct rm_timeline_options){.width = RM_TIMELINE_DEFAULT_WIDTH};
    for (int i = 0; i < argc; i++) {
        bool missing = false;
        const char *v, *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
            return 0;
        } else if ((v = option_value(argc, argv, &i, "--svg", &missing)) != NULL) {
            o->svg = v;
        } else if ((v = option_value(argc, argv, &i, "--width", &missing)) != NULL) {
            if (parse_width(v, &o->width) != 0) {
                snprintf(err, errlen,
                         "option --width: '%.40s' is not a whole number from 400 "
                         "to 20000",
                         v);
                return RM_EUSAGE;
            }
        } else if (missing) {
            snprintf(err, errlen, "option %s needs a value", a);
            return RM_EUSAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            snprintf(err, errlen, "unknown option '%.60s' for timeline", a);
            return RM_EUSAGE;
        } else if (o->trace) {
            snprintf(err, errlen, "timeline takes one trace file, got '%.60s' too", a);
            return RM_EUSAGE;
        } else {
            o->trace = a;
        }
    }
    if (!o->trace || !o->svg) {
        snprintf(err, errlen, "timeline needs %s",
                 !o->trace ? "a TRACE.json file" : "--svg OUT.svg");
        return RM_EUSAGE;
    }
    return 0;
}
