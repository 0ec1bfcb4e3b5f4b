/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "report.h"

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

double report_median(const double *v, size_t n) {
        double s[REPORT_ROUNDS_MAX];

        if (n == 0 || n > REPORT_ROUNDS_MAX)
                return NAN;
        memcpy(s, v, n * sizeof(double));
        qsort(s, n, sizeof(double), compare_double);
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

ReportRow *report_add(Report *r, const char *goal, ReportUnit unit, ReportRatio ratio_kind,
                      const char *what, const char *baseline) {
        ReportRow *row;

        if (r->n_rows == r->n_allocated) {
                size_t n = r->n_allocated ? r->n_allocated * 2 : 32;
                ReportRow *p = reallocarray(r->rows, n, sizeof(ReportRow));

                if (!p)
                        return NULL;
                r->rows = p;
                r->n_allocated = n;
        }
        row = &r->rows[r->n_rows++];
        *row = (ReportRow) { .unit = unit, .ratio_kind = ratio_kind };
        (void) snprintf(row->goal, sizeof(row->goal), "%s", goal);
        (void) snprintf(row->what, sizeof(row->what), "%s", what);
        (void) snprintf(row->baseline, sizeof(row->baseline), "%s", baseline);
        return row;
}

void report_round(ReportRow *row, double value, double base) {
        if (row->n_rounds >= REPORT_ROUNDS_MAX)
                return;
        row->value[row->n_rounds] = value;
        row->base[row->n_rounds] = base;
        row->n_rounds++;
}

void report_target(ReportRow *row, char op, double target) {
        row->target_op = op;
        row->target = target;
}

double report_row_value(const ReportRow *row) {
        return report_median(row->value, row->n_rounds);
}

double report_row_base(const ReportRow *row) {
        return report_median(row->base, row->n_rounds);
}

/* A rate is the inverse of a cost: the direction of the ratio follows the unit. */
static double ratio_one(const ReportRow *row, double v, double b) {
        bool rate = row->unit == UNIT_RATE;

        switch (row->ratio_kind) {
        case RATIO_COST:
                return rate ? b / v : v / b;
        case RATIO_SPEED:
                return rate ? v / b : b / v;
        case RATIO_PLAIN:
                return v / b;
        default:
                return NAN;
        }
}

double report_row_ratio(const ReportRow *row) {
        double q[REPORT_ROUNDS_MAX];

        if (row->ratio_kind == RATIO_NONE)
                return NAN;
        for (size_t i = 0; i < row->n_rounds; i++)
                q[i] = ratio_one(row, row->value[i], row->base[i]);
        return report_median(q, row->n_rounds);
}

int report_row_met(const ReportRow *row) {
        double q = report_row_ratio(row);

        if (!row->target_op || isnan(q))
                return -1;
        return row->target_op == '<' ? q <= row->target : q >= row->target;
}

static void format_value(ReportUnit unit, double v, char *buf, size_t size) {
        if (isnan(v)) {
                (void) snprintf(buf, size, "—");
                return;
        }
        switch (unit) {
        case UNIT_RATE:
                if (v >= 1000)
                        (void) snprintf(buf, size, "%.3gk/s", v / 1000);
                else
                        (void) snprintf(buf, size, "%.3g/s", v);
                break;
        case UNIT_USEC:
                if (v >= 1000)
                        (void) snprintf(buf, size, "%.3g ms", v / 1000);
                else
                        (void) snprintf(buf, size, "%.3g µs", v);
                break;
        case UNIT_MIB:
                (void) snprintf(buf, size, "%.1f MiB", v);
                break;
        case UNIT_COUNT:
                (void) snprintf(buf, size, "%.0f", v);
                break;
        }
}

static const char *ratio_word(ReportRatio k) {
        switch (k) {
        case RATIO_COST:
                return "cost";
        case RATIO_SPEED:
                return "speed";
        case RATIO_PLAIN:
                return "growth";
        default:
                return "";
        }
}

void report_print(const Report *r, FILE *f) {
        fprintf(f, "| goal | measured | value | baseline (same run) | value | ratio | target | met |\n");
        fprintf(f, "|---|---|---:|---|---:|---:|---|---|\n");
        for (size_t i = 0; i < r->n_rows; i++) {
                const ReportRow *row = &r->rows[i];
                char v[32], b[32], q[48] = "—", t[32] = "";
                double ratio = report_row_ratio(row);
                int met = report_row_met(row);

                format_value(row->unit, report_row_value(row), v, sizeof(v));
                format_value(row->unit, report_row_base(row), b, sizeof(b));
                if (!isnan(ratio))
                        (void) snprintf(q, sizeof(q), "%.2f× %s", ratio, ratio_word(row->ratio_kind));
                if (row->target_op)
                        (void) snprintf(t, sizeof(t), "%s %g×", row->target_op == '<' ? "≤" : "≥", row->target);
                fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", row->goal, row->what, v,
                        row->baseline, b, q, t, met < 0 ? "" : met ? "yes" : "**no**");
        }
}

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

/* JSON has no NaN. */
static void json_number(FILE *f, double v) {
        if (isnan(v) || isinf(v))
                fputs("null", f);
        else
                fprintf(f, "%.6g", v);
}

static void json_array(FILE *f, const double *v, size_t n) {
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        fputc(',', f);
                json_number(f, v[i]);
        }
        fputc(']', f);
}

static const char *const unit_names[] = {
        [UNIT_RATE] = "ops/s",
        [UNIT_USEC] = "us/op",
        [UNIT_MIB] = "MiB",
        [UNIT_COUNT] = "count",
};

int report_write_json(const Report *r, const char *machine_json, const char *path) {
        FILE *f;
        int r_close;

        f = fopen(path, "we");
        if (!f)
                return negative_errno();
        fprintf(f, "{\n  \"machine\": %s,\n  \"rows\": [\n", machine_json);
        for (size_t i = 0; i < r->n_rows; i++) {
                const ReportRow *row = &r->rows[i];
                int met = report_row_met(row);

                fputs("    {\"goal\": ", f);
                json_string(f, row->goal);
                fputs(", \"what\": ", f);
                json_string(f, row->what);
                fprintf(f, ", \"unit\": \"%s\", \"value\": ", unit_names[row->unit]);
                json_number(f, report_row_value(row));
                fputs(", \"baseline\": ", f);
                json_string(f, row->baseline);
                fputs(", \"baseline_value\": ", f);
                json_number(f, report_row_base(row));
                fprintf(f, ", \"ratio_is\": \"%s\", \"ratio\": ", ratio_word(row->ratio_kind));
                json_number(f, report_row_ratio(row));
                if (row->target_op) {
                        fprintf(f, ", \"target\": \"%s %g\"", row->target_op == '<' ? "<=" : ">=", row->target);
                        fprintf(f, ", \"met\": %s", met > 0 ? "true" : "false");
                }
                fputs(", \"rounds\": ", f);
                json_array(f, row->value, row->n_rounds);
                fputs(", \"baseline_rounds\": ", f);
                json_array(f, row->base, row->n_rounds);
                fprintf(f, "}%s\n", i + 1 < r->n_rows ? "," : "");
        }
        fputs("  ]\n}\n", f);
        r_close = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r_close == 0)
                r_close = negative_errno();
        return r_close;
}

void report_free(Report *r) {
        free(r->rows);
        *r = (Report) {};
}
